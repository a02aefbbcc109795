package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch v0-4: per partition, the end offset of a leader
// epoch, which consumers ask for to detect a log truncated under them
// (KIP-320). The answer follows Kafka's leader-epoch cache: for the latest
// epoch, the log end offset; for an older one, the start offset of the
// next epoch, with the newest epoch at or below the one asked; for one
// below every epoch kept, the log start; for -1 or one above the latest,
// UNDEFINED (epoch -1, offset -1).
//
// The epochs are those of the stored batches. Until partitions replicate,
// the partition stamps leader epoch 0 on every batch it stores (and
// Metadata gives epoch 0), so a partition holds one epoch, 0, from its log
// start: epoch 0 answers the log end offset, and a later epoch UNDEFINED.
// A current leader epoch (v2+) other than 0 is fenced or unknown, as from
// a Kafka leader.

// undefinedEpoch is Kafka's UNDEFINED_EPOCH, and its offset.
const undefinedEpoch = -1

// epochStart is one leader epoch and the first offset written in it.
type epochStart struct {
	epoch int32
	start int64
}

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			epoch, end, err := s.epochEnd(ctx, rt.Topic, rp)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.LeaderEpoch, sp.EndOffset = undefinedEpoch, undefinedEpoch
			} else {
				sp.LeaderEpoch, sp.EndOffset = epoch, end
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// epochEnd answers one partition.
func (s *Server) epochEnd(ctx context.Context, topic string, rp kmsg.OffsetForLeaderEpochRequestTopicPartition) (int32, int64, error) {
	if rp.Partition < 0 {
		return 0, 0, refuse(kerr.UnknownTopicOrPartition, "partition %d", rp.Partition)
	}
	p, err := s.opts.Registry.Partition(topic, uint32(rp.Partition))
	if err != nil {
		return 0, 0, err
	}
	const leaderEpoch = 0 // every stored batch's, and Metadata's
	switch cur := rp.CurrentLeaderEpoch; {
	case cur == undefinedEpoch: // not given (and always so below v2)
	case cur < leaderEpoch:
		return 0, 0, refuse(kerr.FencedLeaderEpoch, "current leader epoch %d is older than %d", cur, leaderEpoch)
	case cur > leaderEpoch:
		return 0, 0, refuse(kerr.UnknownLeaderEpoch, "current leader epoch %d is newer than %d", cur, leaderEpoch)
	}
	o, err := p.Offsets(ctx)
	if err != nil {
		return 0, 0, err
	}
	epoch, end := endOffsetFor([]epochStart{{leaderEpoch, int64(o.LogStart)}}, rp.LeaderEpoch, int64(o.Next))
	return epoch, end, nil
}

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor: epochs in
// rising order, each with its start offset, and the log end offset.
func endOffsetFor(epochs []epochStart, want int32, logEnd int64) (int32, int64) {
	if want == undefinedEpoch || len(epochs) == 0 {
		return undefinedEpoch, undefinedEpoch
	}
	if epochs[len(epochs)-1].epoch == want {
		return want, logEnd
	}
	// The first epoch above the one asked ends it.
	for i, e := range epochs {
		if e.epoch <= want {
			continue
		}
		if i == 0 { // below every epoch kept
			return want, e.start
		}
		return epochs[i-1].epoch, e.start
	}
	return undefinedEpoch, undefinedEpoch // above the latest
}
