package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition"
)

// CreateTopics v0-7, validate_only (v1+) honoured: every check is made,
// nothing is created.
//
// One broker holds every replica, so a replication factor is -1 (the
// default) or 1, and a manual assignment may name broker NodeID only.
// Partitions -1 means DefaultPartitions. Topic configs do not exist yet
// (retention is the broker's, by flag): a request that sets any gets
// INVALID_CONFIG rather than having them ignored.

func (s *Server) handleCreateTopics(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	count := map[string]int{}
	for _, t := range req.Topics {
		count[t.Topic]++
	}
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		n, err := s.checkCreate(t, count[t.Topic])
		if err == nil && !req.ValidateOnly {
			_, err = s.opts.Registry.CreateTopic(ctx, t.Topic, n)
		}
		if err == nil {
			rt.NumPartitions, rt.ReplicationFactor = int32(n), 1
			// v5+: an empty list, never null: Kafka's admin client
			// (TopicCommand --create) reads it on success and fails on null.
			rt.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
			if !req.ValidateOnly {
				if id, ierr := s.topicID(t.Topic); ierr == nil {
					rt.TopicID = id
				}
			}
		} else {
			rt.ErrorCode = errorCode(err)
			if req.Version >= 1 {
				rt.ErrorMessage = errorMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// checkCreate checks one topic of a CreateTopics request and returns its
// partition count.
func (s *Server) checkCreate(t kmsg.CreateTopicsRequestTopic, mentions int) (uint32, error) {
	if mentions > 1 {
		return 0, refuse(kerr.InvalidRequest, "topic %q named %d times in one request", t.Topic, mentions)
	}
	if err := partition.ValidateTopicName(t.Topic); err != nil {
		return 0, err
	}
	if len(t.Configs) > 0 {
		return 0, refuse(kerr.InvalidConfig, "topic %q: topic configs are not supported (%s and %d more); the broker's flags set retention and sizes", t.Topic, t.Configs[0].Name, len(t.Configs)-1)
	}
	n := t.NumPartitions
	if len(t.ReplicaAssignment) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return 0, refuse(kerr.InvalidRequest, "topic %q: a replica assignment goes with partitions and replication factor -1", t.Topic)
		}
		seen := make([]bool, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(seen) || seen[a.Partition] {
				return 0, refuse(kerr.InvalidReplicaAssignment, "topic %q: partitions must be 0 to %d, each once", t.Topic, len(seen)-1)
			}
			seen[a.Partition] = true
			if len(a.Replicas) != 1 || a.Replicas[0] != NodeID {
				return 0, refuse(kerr.InvalidReplicaAssignment, "topic %q partition %d: replicas %v; this broker (node %d) is the only one", t.Topic, a.Partition, a.Replicas, NodeID)
			}
		}
		n = int32(len(t.ReplicaAssignment))
	} else if t.ReplicationFactor != -1 && t.ReplicationFactor != 1 {
		return 0, refuse(kerr.InvalidReplicationFactor, "topic %q: replication factor %d; one broker holds 1 replica", t.Topic, t.ReplicationFactor)
	}
	if n == -1 {
		n = DefaultPartitions
	}
	if n < 1 || uint32(n) > s.opts.MaxPartitions {
		return 0, refuse(kerr.InvalidPartitions, "topic %q: %d partitions; want 1 to %d", t.Topic, n, s.opts.MaxPartitions)
	}
	if _, err := s.opts.Registry.Partition(t.Topic, 0); err == nil {
		return 0, fmt.Errorf("%w: %q", partition.ErrTopicExists, t.Topic)
	}
	return uint32(n), nil
}
