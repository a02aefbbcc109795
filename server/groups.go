package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/pb"
)

// Groups is what the server needs from the consumer-group coordinator
// (*group.Coordinator). Implementations must be safe for concurrent use.
type Groups interface {
	// Join returns once the member is in the group; the caller must Leave.
	Join(ctx context.Context, group, topic, memberID string) (*group.Member, error)
	Commit(ctx context.Context, group, topic string, generation uint64, offsets []group.PartitionOffset) error
	Fetch(ctx context.Context, group, topic string) ([]group.PartitionOffset, error)
	List(ctx context.Context) ([]group.Info, error)
}

// groups is the coordinator, or an UNIMPLEMENTED error for a broker built
// without one.
func (s *service) groups() (Groups, error) {
	if s.opts.Groups == nil {
		return nil, status.Error(codes.Unimplemented, "server: this broker has no consumer-group coordinator")
	}
	return s.opts.Groups, nil
}

// JoinGroup keeps the caller in the group for as long as the stream is
// open. The stream's goroutine is the only one that sends: the coordinator
// publishes each new assignment to the Member and signals, never waiting.
// Whatever ends the stream (the client closing it, a keepalive failure on a
// dead connection, broker shutdown) ends the membership through the
// deferred Leave, and the other members are rebalanced.
func (s *service) JoinGroup(req *pb.JoinGroupRequest, stream grpc.ServerStreamingServer[pb.GroupAssignment]) error {
	gs, err := s.groups()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	m, err := gs.Join(ctx, req.GetGroup(), req.GetTopic(), req.GetMemberId())
	if err != nil {
		return s.groupStreamErr(ctx, err)
	}
	defer m.Leave()
	var sent uint64
	for {
		if a := m.Assignment(); a.Generation > sent {
			if err := stream.Send(&pb.GroupAssignment{MemberId: a.MemberID, Generation: a.Generation, Partitions: a.Partitions}); err != nil {
				return err
			}
			sent = a.Generation
		}
		select {
		case <-m.Changed():
		case <-m.Done():
			return s.groupStreamErr(ctx, m.Err())
		case <-ctx.Done():
			return s.groupStreamErr(ctx, ctx.Err())
		case <-s.stopping.Done():
			return errShuttingDown
		}
	}
}

func (s *service) CommitOffsets(ctx context.Context, req *pb.CommitOffsetsRequest) (*pb.CommitOffsetsResponse, error) {
	gs, err := s.groups()
	if err != nil {
		return nil, err
	}
	offs := make([]group.PartitionOffset, len(req.GetOffsets()))
	for i, o := range req.GetOffsets() {
		offs[i] = group.PartitionOffset{Partition: o.GetPartition(), Offset: o.GetOffset()}
	}
	if err := gs.Commit(ctx, req.GetGroup(), req.GetTopic(), req.GetGeneration(), offs); err != nil {
		return nil, toStatus(err)
	}
	return &pb.CommitOffsetsResponse{}, nil
}

func (s *service) FetchOffsets(ctx context.Context, req *pb.FetchOffsetsRequest) (*pb.FetchOffsetsResponse, error) {
	gs, err := s.groups()
	if err != nil {
		return nil, err
	}
	offs, err := gs.Fetch(ctx, req.GetGroup(), req.GetTopic())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.FetchOffsetsResponse{Offsets: toPartitionOffsets(offs)}, nil
}

func (s *service) ListGroups(ctx context.Context, _ *pb.ListGroupsRequest) (*pb.ListGroupsResponse, error) {
	gs, err := s.groups()
	if err != nil {
		return nil, err
	}
	infos, err := gs.List(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.ListGroupsResponse{Groups: make([]*pb.GroupInfo, len(infos))}
	for i, in := range infos {
		gi := &pb.GroupInfo{Group: in.Group, Topic: in.Topic, Generation: in.Generation, Members: make([]*pb.GroupMember, len(in.Members))}
		for j, m := range in.Members {
			gi.Members[j] = &pb.GroupMember{MemberId: m.ID, Partitions: m.Partitions}
		}
		resp.Groups[i] = gi
	}
	return resp, nil
}

// committedOffset resolves START_COMMITTED: the group's committed offset for
// the partition, or the log start when it has none.
func (s *service) committedOffset(ctx context.Context, p Partition, req *pb.ConsumeRequest) (uint64, error) {
	gs, err := s.groups()
	if err != nil {
		return 0, err
	}
	if req.GetGroup() == "" {
		return 0, invalid("START_COMMITTED needs a group (ConsumeRequest.group)")
	}
	offs, err := gs.Fetch(ctx, req.GetGroup(), req.GetTopic())
	if err != nil {
		return 0, toStatus(err)
	}
	for _, o := range offs {
		if o.Partition == req.GetPartition() {
			return o.Offset, nil
		}
	}
	o, err := p.Offsets(ctx)
	if err != nil {
		return 0, err
	}
	return o.LogStart, nil
}

func toPartitionOffsets(in []group.PartitionOffset) []*pb.PartitionOffset {
	out := make([]*pb.PartitionOffset, len(in))
	for i, o := range in {
		out[i] = &pb.PartitionOffset{Partition: o.Partition, Offset: o.Offset}
	}
	return out
}

// The broker hands its Registry to group.Open as the coordinator's Topics.
var _ group.Topics = Registry(nil)

// groupStreamErr prefers "shutting down" and the stream's own end over what
// the coordinator said.
func (s *service) groupStreamErr(ctx context.Context, err error) error {
	if s.stopping.Err() != nil {
		return errShuttingDown
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	return toStatus(err)
}
