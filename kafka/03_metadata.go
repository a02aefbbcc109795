package kafka

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition"
)

// Metadata v0-12: one broker (NodeID, at the advertised address), also the
// controller, leading every partition with itself as the only replica and
// in-sync replica, leader epoch 0.
//
// Topics are asked for by name, or from v10 by topic ID; no list (v1+; an
// empty one at v0) means every topic. A topic that does not exist is
// created when Options.AutoCreateTopics is set and the request allows it
// (always below v4, AllowAutoTopicCreation from v4), as Kafka's
// auto.create.topics.enable does; otherwise it is UNKNOWN_TOPIC_OR_PARTITION.

func (s *Server) handleMetadata(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.advertised()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	cluster := ClusterID
	resp.ClusterID = &cluster
	resp.ControllerID = NodeID

	reg := s.opts.Registry
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range reg.Topics() {
			resp.Topics = append(resp.Topics, s.topicMetadata(t))
		}
		return resp, nil
	}
	autoCreate := s.opts.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	var byID map[[16]byte]partition.TopicInfo // made on first use
	for _, rt := range req.Topics {
		if rt.Topic == nil { // by topic ID, v10+
			if byID == nil {
				byID = s.topicsByID()
			}
			t, ok := byID[rt.TopicID]
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, s.topicMetadata(t))
			continue
		}
		name := *rt.Topic
		t, err := s.lookupTopic(name)
		if errors.Is(err, partition.ErrUnknownTopic) && autoCreate && partition.ValidateTopicName(name) == nil {
			t, err = s.autoCreate(ctx, name)
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &name
			mt.ErrorCode = errorCode(err)
			if partition.ValidateTopicName(name) != nil {
				mt.ErrorCode = kerr.InvalidTopicException.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, s.topicMetadata(t))
	}
	return resp, nil
}

// lookupTopic finds one topic by name.
func (s *Server) lookupTopic(name string) (partition.TopicInfo, error) {
	// Partition 0 exists for every topic; the list gives the count.
	if _, err := s.opts.Registry.Partition(name, 0); err != nil {
		return partition.TopicInfo{}, err
	}
	for _, t := range s.opts.Registry.Topics() {
		if t.Name == name {
			return t, nil
		}
	}
	return partition.TopicInfo{}, partition.ErrUnknownTopic
}

// autoCreate makes a topic a client asked for; another client doing the
// same at once is no error.
func (s *Server) autoCreate(ctx context.Context, name string) (partition.TopicInfo, error) {
	t, err := s.opts.Registry.CreateTopic(ctx, name, DefaultPartitions)
	if errors.Is(err, partition.ErrTopicExists) {
		return s.lookupTopic(name)
	}
	if err == nil {
		s.logger.Info().Str("topic", name).Int("partitions", DefaultPartitions).Msg("auto-created topic on a Metadata request")
	}
	return t, err
}

func (s *Server) topicMetadata(t partition.TopicInfo) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	id, err := s.topicID(t.Name)
	if err != nil {
		mt.ErrorCode = errorCode(err)
		return mt
	}
	mt.TopicID = id
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for i := range mt.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = NodeID
		p.LeaderEpoch = 0
		p.Replicas = []int32{NodeID}
		p.ISR = []int32{NodeID}
		mt.Partitions[i] = p
	}
	return mt
}

// topicID is the topic's UUID, cached per partition-0 handle: a topic made
// again under the same name has a new handle, and a new UUID.
func (s *Server) topicID(name string) ([16]byte, error) {
	reg := s.opts.Registry
	p, err := reg.Partition(name, 0)
	if err != nil {
		return [16]byte{}, err
	}
	if id, ok := s.ids.Load(p); ok {
		return id.([16]byte), nil
	}
	id, err := reg.TopicID(name)
	if err != nil {
		return [16]byte{}, err
	}
	// Cache only if the name still means the same topic: the id read may
	// be that of a topic made again meanwhile.
	if again, err := reg.Partition(name, 0); err == nil && again == p {
		s.ids.Store(p, id)
	}
	return id, nil
}

// forgetTopicID drops a topic's cached UUID before it is deleted.
func (s *Server) forgetTopicID(name string) {
	if p, err := s.opts.Registry.Partition(name, 0); err == nil {
		s.ids.Delete(p)
	}
}

// topicsByID maps every topic's UUID to it.
func (s *Server) topicsByID() map[[16]byte]partition.TopicInfo {
	topics := s.opts.Registry.Topics()
	m := make(map[[16]byte]partition.TopicInfo, len(topics))
	for _, t := range topics {
		if id, err := s.topicID(t.Name); err == nil {
			m[id] = t
		}
	}
	return m
}
