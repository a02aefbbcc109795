package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics v0-6: by name, and from v6 by name or topic ID. A topic
// named twice in one request gets INVALID_REQUEST for each mention, as
// from Kafka. Deleting stops the topic's partitions: Fetch requests
// waiting on them answer, and clients learn from Metadata that it is gone.

func (s *Server) handleDeleteTopics(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version >= 6 {
		for _, t := range req.Topics {
			targets = append(targets, target{t.Topic, t.TopicID})
		}
	} else {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	}
	count := map[string]int{}
	var byID map[[16]byte]string
	for i, t := range targets {
		if t.name == nil || *t.name == "" && t.id != [16]byte{} {
			if byID == nil {
				byID = map[[16]byte]string{}
				for id, info := range s.topicsByID() {
					byID[id] = info.Name
				}
			}
			if n, ok := byID[t.id]; ok {
				targets[i].name = &n
			}
		}
		if targets[i].name != nil {
			count[*targets[i].name]++
		}
	}
	for _, t := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.name, t.id
		switch {
		case t.name == nil:
			rt.ErrorCode = kerr.UnknownTopicID.Code
		case count[*t.name] > 1:
			rt.ErrorCode = kerr.InvalidRequest.Code
		default:
			if id, err := s.topicID(*t.name); err == nil {
				rt.TopicID = id
			}
			s.forgetTopicID(*t.name)
			err := s.opts.Registry.DeleteTopic(ctx, *t.name)
			rt.ErrorCode = errorCode(err)
			if req.Version >= 5 {
				rt.ErrorMessage = errorMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
