package kafka

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch v0-8, from the store the gRPC groups share: a partition
// never committed answers offset -1, as in Kafka; no topics (null, v2+)
// means every committed one. v8 asks for several groups at once.

func (s *Server) handleOffsetFetch(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		asked := make([]askedTopic, len(req.Topics))
		for i, t := range req.Topics {
			asked[i] = askedTopic{t.Topic, t.Partitions}
		}
		if req.Topics == nil && req.Version < 2 {
			asked = []askedTopic{} // null means all only from v2
		}
		code, topics := s.fetchOffsets(ctx, req.Group, asked, req.Topics == nil && req.Version >= 2)
		for _, t := range topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.topic
			for _, p := range t.parts {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.offset, -1, new(string)
				rp.ErrorCode = p.code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		resp.ErrorCode = code
		if req.Version < 2 && code != 0 { // v0-1 have no group error: each partition carries it
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
		return resp, nil
	}
	for _, g := range req.Groups {
		asked := make([]askedTopic, len(g.Topics))
		for i, t := range g.Topics {
			asked[i] = askedTopic{t.Topic, t.Partitions}
		}
		code, topics := s.fetchOffsets(ctx, g.Group, asked, g.Topics == nil)
		rg := kmsg.NewOffsetFetchResponseGroup()
		rg.Group, rg.ErrorCode = g.Group, code
		for _, t := range topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = t.topic
			for _, p := range t.parts {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.partition, p.offset, -1, new(string)
				rp.ErrorCode = p.code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rg.Topics = append(rg.Topics, rt)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

type askedTopic struct {
	topic string
	parts []int32
}

type fetchedTopic struct {
	topic string
	parts []fetchedPartition
}

type fetchedPartition struct {
	partition int32
	offset    int64
	code      int16
}

// fetchOffsets answers one group's part: the asked partitions, or every
// committed one when all; a group error (bad name, coordinator stopped)
// comes back as code.
func (s *Server) fetchOffsets(ctx context.Context, grp string, asked []askedTopic, all bool) (int16, []fetchedTopic) {
	offs, err := s.opts.Groups.Offsets(ctx, grp)
	if err != nil {
		return groupErrorCode(err), nil
	}
	if all {
		asked = asked[:0]
		for t, ps := range offs {
			a := askedTopic{topic: t}
			for _, po := range ps {
				a.parts = append(a.parts, int32(po.Partition))
			}
			asked = append(asked, a)
		}
		sort.Slice(asked, func(i, j int) bool { return asked[i].topic < asked[j].topic })
	}
	out := make([]fetchedTopic, 0, len(asked))
	for _, a := range asked {
		committed := map[int32]int64{}
		for _, po := range offs[a.topic] {
			committed[int32(po.Partition)] = int64(po.Offset)
		}
		ft := fetchedTopic{topic: a.topic}
		for _, p := range a.parts {
			off, ok := committed[p]
			if !ok {
				off = -1
			}
			ft.parts = append(ft.parts, fetchedPartition{partition: p, offset: off})
		}
		out = append(out, ft)
	}
	return 0, out
}
