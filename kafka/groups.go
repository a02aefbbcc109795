package kafka

import (
	"context"
	"net"

	"github.com/logbroker/logbroker/partition/group"
)

// Groups is what the Kafka front end needs from the consumer-group
// coordinator (*group.Coordinator): the classic group protocol and the
// committed offsets it shares with the gRPC groups. Implementations must be
// safe for concurrent use.
type Groups interface {
	JoinKafka(ctx context.Context, group string, r group.JoinRequest) (group.JoinResult, error)
	SyncKafka(ctx context.Context, group string, r group.SyncRequest) (group.SyncResult, error)
	HeartbeatKafka(ctx context.Context, group, member string, generation uint64) error
	LeaveKafka(ctx context.Context, group string, members []string) ([]error, error)
	CommitKafka(ctx context.Context, group, member string, generation int64, topics []group.TopicOffsets) ([][]error, error)
	Offsets(ctx context.Context, group string) (map[string][]group.PartitionOffset, error)
	Describe(ctx context.Context, group string) (group.Info, bool, error)
	List(ctx context.Context) ([]group.Info, error)
}

var _ Groups = (*group.Coordinator)(nil)

// groupGeneration is a Kafka generation (int32) as the coordinator counts
// it; a negative one is no generation and matches none.
func groupGeneration(g int32) uint64 {
	if g < 0 {
		return ^uint64(0)
	}
	return uint64(g)
}

// clientHost is how Kafka shows a member's address: "/" and its IP.
func clientHost(c *conn) string {
	if a, ok := c.nc.RemoteAddr().(*net.TCPAddr); ok {
		return "/" + a.IP.String()
	}
	return "/" + c.nc.RemoteAddr().String()
}

// untilStop is ctx, also ended when the server starts stopping: a JoinGroup
// or SyncGroup that waits for other members is answered at once then, as a
// waiting Fetch is.
func (s *Server) untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() { // ends with the request: the caller cancels
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
