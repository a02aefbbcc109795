package kafka

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition"
)

// DescribeConfigs v0-4: the configs that exist, named as Kafka names them,
// so that `kafka-configs.sh --describe`, kadm and the Java AdminClient
// show what this broker does.
//
// Topics have no configs of their own yet: every topic config is the
// broker's (a flag), so its source is STATIC_BROKER_CONFIG when the flag
// differs from its default and DEFAULT_CONFIG when it does not, with the
// broker config it comes from as its synonym (v1+), as Kafka reports an
// inherited topic config. Nothing can be altered (no AlterConfigs), so
// every config is read-only. Broker configs are asked for by the broker's
// id ("1"); an empty name asks for the cluster's dynamic defaults, of which
// there are none; another id is INVALID_REQUEST, as from Kafka.

// Kafka's config resource types.
const (
	resourceTopic  = 2
	resourceBroker = 4
)

// configEntry is one config, with the broker config a topic config
// inherits (its synonym), if any.
type configEntry struct {
	name    string
	value   string
	typ     kmsg.ConfigType
	source  kmsg.ConfigSource
	synonym string // broker config a topic config comes from; "" for none
	doc     string
}

// sourceOf is a broker setting's source: static when set away from its
// default.
func sourceOf(isDefault bool) kmsg.ConfigSource {
	if isDefault {
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceStaticBrokerConfig
}

// kafkaMs is a duration in Kafka's terms: -1 for "forever" (0 here).
func kafkaMs(d time.Duration) string {
	if d <= 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// kafkaBytes is a size in Kafka's terms: -1 for "unbounded" (0 here).
func kafkaBytes(n int64) string {
	if n <= 0 {
		return "-1"
	}
	return strconv.FormatInt(n, 10)
}

// topicConfigs are every topic's configs, all from the broker's.
func (s *Server) topicConfigs() []configEntry {
	c := s.opts.Registry.Config()
	return []configEntry{
		{"cleanup.policy", "delete", kmsg.ConfigTypeList, kmsg.ConfigSourceDefaultConfig, "log.cleanup.policy", "whole segments are deleted by retention; compaction is not supported"},
		{"compression.type", "producer", kmsg.ConfigTypeString, kmsg.ConfigSourceDefaultConfig, "compression.type", "batches are stored as the producer compressed them"},
		{"max.message.bytes", strconv.Itoa(c.MaxRecordBytes), kmsg.ConfigTypeInt, sourceOf(c.MaxRecordBytes == partition.DefaultMaxRecordBytes), "message.max.bytes", "largest record accepted, encoded (--max-record-bytes); LogBroker applies it per record"},
		{"message.timestamp.type", "CreateTime", kmsg.ConfigTypeString, kmsg.ConfigSourceDefaultConfig, "log.message.timestamp.type", "records keep the producer's timestamps"},
		{"retention.bytes", kafkaBytes(c.RetentionBytes), kmsg.ConfigTypeLong, sourceOf(c.RetentionBytes == 0), "log.retention.bytes", "per-partition size above which the oldest segments are deleted (--retention-bytes; -1: keep all)"},
		{"retention.ms", kafkaMs(c.RetentionAge), kmsg.ConfigTypeLong, sourceOf(c.RetentionAge == 0), "log.retention.ms", "age after which sealed segments are deleted (--retention-ms; -1: keep all)"},
		{"segment.bytes", strconv.FormatInt(c.SegmentBytes, 10), kmsg.ConfigTypeInt, sourceOf(c.SegmentBytes == partition.DefaultSegmentBytes), "log.segment.bytes", "size at which a partition rolls to a new segment (--segment-bytes)"},
	}
}

// brokerConfigs are the broker's configs.
func (s *Server) brokerConfigs() []configEntry {
	c, o := s.opts.Registry.Config(), s.opts
	host, port := s.advertised()
	listener := "PLAINTEXT://" + s.listenAddr()
	flushMessages, flushMs := "9223372036854775807", "-1" // Kafka's: the OS decides
	switch c.Fsync {
	case partition.FsyncAlways:
		flushMessages = "1"
	case partition.FsyncInterval:
		flushMs = strconv.FormatInt(c.FsyncInterval.Milliseconds(), 10)
	}
	static := kmsg.ConfigSourceStaticBrokerConfig
	return []configEntry{
		{"advertised.listeners", "PLAINTEXT://" + host + ":" + strconv.Itoa(int(port)), kmsg.ConfigTypeString, static, "", "where clients reach this broker (--kafka-advertise-addr)"},
		{"auto.create.topics.enable", strconv.FormatBool(o.AutoCreateTopics), kmsg.ConfigTypeBoolean, sourceOf(!o.AutoCreateTopics), "", "create a topic a Metadata request names (--kafka-auto-create-topics)"},
		{"broker.id", strconv.Itoa(NodeID), kmsg.ConfigTypeInt, static, "", "the one broker's id"},
		{"compression.type", "producer", kmsg.ConfigTypeString, kmsg.ConfigSourceDefaultConfig, "", "batches are stored as the producer compressed them"},
		{"connections.max.idle.ms", strconv.FormatInt(o.IdleTimeout.Milliseconds(), 10), kmsg.ConfigTypeLong, sourceOf(o.IdleTimeout == DefaultIdleTimeout), "", "an idle connection is closed after this long"},
		{"default.replication.factor", "1", kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig, "", "one broker holds the one replica"},
		{"listeners", listener, kmsg.ConfigTypeString, static, "", "the Kafka listener (--kafka-addr)"},
		{"log.cleanup.policy", "delete", kmsg.ConfigTypeList, kmsg.ConfigSourceDefaultConfig, "", "whole segments are deleted by retention; compaction is not supported"},
		{"log.flush.interval.messages", flushMessages, kmsg.ConfigTypeLong, sourceOf(c.Fsync == partition.FsyncAlways), "", "1 when every append is synced before it is acknowledged (--fsync always)"},
		{"log.flush.interval.ms", flushMs, kmsg.ConfigTypeLong, sourceOf(c.Fsync == partition.FsyncAlways), "", "the background sync period of --fsync interval"},
		{"log.message.timestamp.type", "CreateTime", kmsg.ConfigTypeString, kmsg.ConfigSourceDefaultConfig, "", "records keep the producer's timestamps"},
		{"log.retention.bytes", kafkaBytes(c.RetentionBytes), kmsg.ConfigTypeLong, sourceOf(c.RetentionBytes == 0), "", "--retention-bytes; -1: keep all"},
		{"log.retention.check.interval.ms", strconv.FormatInt(c.RetentionCheck.Milliseconds(), 10), kmsg.ConfigTypeLong, kmsg.ConfigSourceDefaultConfig, "", "how often retention runs"},
		{"log.retention.ms", kafkaMs(c.RetentionAge), kmsg.ConfigTypeLong, sourceOf(c.RetentionAge == 0), "", "--retention-ms; -1: keep all"},
		{"log.segment.bytes", strconv.FormatInt(c.SegmentBytes, 10), kmsg.ConfigTypeInt, sourceOf(c.SegmentBytes == partition.DefaultSegmentBytes), "", "--segment-bytes"},
		{"message.max.bytes", strconv.Itoa(c.MaxRecordBytes), kmsg.ConfigTypeInt, sourceOf(c.MaxRecordBytes == partition.DefaultMaxRecordBytes), "", "--max-record-bytes, per record"},
		{"min.insync.replicas", "1", kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig, "", "one broker, one in-sync replica"},
		{"node.id", strconv.Itoa(NodeID), kmsg.ConfigTypeInt, static, "", "the one broker's id"},
		{"num.partitions", strconv.Itoa(DefaultPartitions), kmsg.ConfigTypeInt, kmsg.ConfigSourceDefaultConfig, "", "partitions of an auto-created topic or one created with -1"},
		{"socket.request.max.bytes", strconv.Itoa(o.MaxRequestBytes), kmsg.ConfigTypeInt, sourceOf(o.MaxRequestBytes == DefaultMaxRequestBytes), "", "largest Produce request"},
	}
}

// listenAddr is the listener's address, or the advertised one before Serve.
func (s *Server) listenAddr() string {
	if a := s.Addr(); a != nil {
		return a.String()
	}
	host, port := s.advertised()
	return host + ":" + strconv.Itoa(int(port))
}

func (s *Server) handleDescribeConfigs(_ context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := s.describeResource(rr)
		if err != nil {
			sr.ErrorCode = errorCode(err)
			sr.ErrorMessage = errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.name) {
				continue
			}
			sr.Configs = append(sr.Configs, describeEntry(req, e))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// describeResource is one resource's configs.
func (s *Server) describeResource(rr kmsg.DescribeConfigsRequestResource) ([]configEntry, error) {
	switch rr.ResourceType {
	case resourceTopic:
		if err := partition.ValidateTopicName(rr.ResourceName); err != nil {
			return nil, refuse(kerr.InvalidTopicException, "topic %q: %v", rr.ResourceName, err)
		}
		if _, err := s.opts.Registry.Partition(rr.ResourceName, 0); err != nil {
			return nil, err
		}
		return s.topicConfigs(), nil
	case resourceBroker:
		switch rr.ResourceName {
		case "": // the cluster's dynamic defaults: none
			return nil, nil
		case strconv.Itoa(NodeID):
			return s.brokerConfigs(), nil
		}
		return nil, refuse(kerr.InvalidRequest, "broker %q: this is broker %d, the only one", rr.ResourceName, NodeID)
	}
	return nil, refuse(kerr.InvalidRequest, "resource type %d: only topics (2) and brokers (4) have configs here", rr.ResourceType)
}

// describeEntry is e as the request's version shows it.
func describeEntry(req *kmsg.DescribeConfigsRequest, e configEntry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.name
	v := e.value
	c.Value = &v
	c.ReadOnly = true
	c.Source = e.source
	c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig // v0 only
	c.ConfigType = e.typ
	if req.IncludeDocumentation {
		d := e.doc
		c.Documentation = &d
	}
	if req.IncludeSynonyms {
		// The config itself comes first, then where it is inherited from,
		// as Kafka orders them.
		syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
		syn.Name, syn.Value, syn.Source = e.name, &v, e.source
		if e.synonym != "" {
			syn.Name = e.synonym
		}
		c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
	}
	return c
}
