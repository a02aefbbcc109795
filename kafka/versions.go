package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersion is one API this listener serves and its version range.
type apiVersion struct {
	key      int16
	min, max int16
}

// versions is the one table of what the listener serves, sorted by key.
// ApiVersions advertises exactly it; a request for a key not here closes
// its connection, as Kafka does, and clients that read ApiVersions never
// send one. The ranges are shaped like a Kafka 3.x release's, so that
// clients that choose features by version (librdkafka, kafka-python)
// choose right.
//
// Produce advertises 0-9 but stores only v3+ (RecordBatch v2); v0-2 get
// UNSUPPORTED_FOR_MESSAGE_FORMAT per partition. Fetch starts at 4, the
// first version whose responses carry RecordBatch v2 with a last stable
// offset.
var versions = []apiVersion{
	{0, 0, 9},  // Produce
	{1, 4, 12}, // Fetch
	{2, 0, 7},  // ListOffsets
	{3, 0, 12}, // Metadata
	{8, 0, 8},  // OffsetCommit
	{9, 0, 8},  // OffsetFetch
	{10, 0, 4}, // FindCoordinator
	{11, 0, 7}, // JoinGroup
	{12, 0, 4}, // Heartbeat
	{13, 0, 4}, // LeaveGroup
	{14, 0, 5}, // SyncGroup
	{15, 0, 5}, // DescribeGroups
	{16, 0, 4}, // ListGroups
	{18, 0, 4}, // ApiVersions
	{19, 0, 7}, // CreateTopics
	{20, 0, 6}, // DeleteTopics
	{22, 0, 4}, // InitProducerId
	{23, 0, 4}, // OffsetForLeaderEpoch
	{32, 0, 4}, // DescribeConfigs
}

// API keys named in code.
const (
	produceKey     int16 = 0
	apiVersionsKey int16 = 18
)

// handlerFunc answers one request; a nil response sends nothing (acks=0
// Produce), and an error closes the connection.
type handlerFunc func(s *Server, ctx context.Context, c *conn, req kmsg.Request) (kmsg.Response, error)

// handler is the handler of an API key in versions.
func handler(key int16) handlerFunc {
	switch key {
	case 0:
		return (*Server).handleProduce
	case 1:
		return (*Server).handleFetch
	case 2:
		return (*Server).handleListOffsets
	case 3:
		return (*Server).handleMetadata
	case 8:
		return (*Server).handleOffsetCommit
	case 9:
		return (*Server).handleOffsetFetch
	case 10:
		return (*Server).handleFindCoordinator
	case 11:
		return (*Server).handleJoinGroup
	case 12:
		return (*Server).handleHeartbeat
	case 13:
		return (*Server).handleLeaveGroup
	case 14:
		return (*Server).handleSyncGroup
	case 15:
		return (*Server).handleDescribeGroups
	case 16:
		return (*Server).handleListGroups
	case 18:
		return (*Server).handleApiVersions
	case 19:
		return (*Server).handleCreateTopics
	case 20:
		return (*Server).handleDeleteTopics
	case 22:
		return (*Server).handleInitProducerID
	case 23:
		return (*Server).handleOffsetForLeaderEpoch
	case 32:
		return (*Server).handleDescribeConfigs
	}
	return nil
}

// lookupVersion finds key's range in versions.
func lookupVersion(key int16) (apiVersion, bool) {
	for _, v := range versions {
		if v.key == key {
			return v, true
		}
	}
	return apiVersion{}, false
}
