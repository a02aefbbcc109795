package kafka

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition"
)

// TestDescribeConfigs: the topic and broker configs as kadm shows them,
// with values and sources from the storage's configuration, all read-only;
// synonyms, name filters, v0's is_default, and the refusals.
func TestDescribeConfigs(t *testing.T) {
	b := startBrokerConfig(t, partition.Config{Fsync: partition.FsyncNever, RetentionAge: 36 * time.Hour, SegmentBytes: 1 << 20})
	b.createTopic("dc", 1)
	ctx := testContext(t)
	adm := b.admin()

	type want struct {
		value  string
		source kmsg.ConfigSource
	}
	check := func(name string, rc kadm.ResourceConfigs, err error, wants map[string]want) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rc) != 1 || rc[0].Err != nil {
			t.Fatalf("%s = %+v", name, rc)
		}
		got := map[string]kadm.Config{}
		for _, c := range rc[0].Configs {
			got[c.Key] = c
			if c.Source != kmsg.ConfigSourceDefaultConfig && c.Source != kmsg.ConfigSourceStaticBrokerConfig {
				t.Errorf("%s %s: source %v", name, c.Key, c.Source)
			}
		}
		for k, w := range wants {
			c, ok := got[k]
			if !ok {
				t.Errorf("%s: no %s among %v", name, k, slices.Sorted(maps.Keys(got)))
				continue
			}
			if c.MaybeValue() != w.value || c.Source != w.source {
				t.Errorf("%s %s = %q from %v, want %q from %v", name, k, c.MaybeValue(), c.Source, w.value, w.source)
			}
		}
	}
	def, static := kmsg.ConfigSourceDefaultConfig, kmsg.ConfigSourceStaticBrokerConfig
	rc, err := adm.DescribeTopicConfigs(ctx, "dc")
	check("topic dc", rc, err, map[string]want{
		"retention.ms":           {"129600000", static},
		"retention.bytes":        {"-1", def},
		"segment.bytes":          {"1048576", static},
		"max.message.bytes":      {"1048576", def},
		"cleanup.policy":         {"delete", def},
		"message.timestamp.type": {"CreateTime", def},
		"compression.type":       {"producer", def},
	})
	if n := len(rc[0].Configs); n != 7 {
		t.Errorf("topic dc has %d configs, want the 7 that exist", n)
	}
	// kadm asks with synonyms: an inherited topic config names the broker
	// config it comes from.
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && (len(c.Synonyms) != 1 || c.Synonyms[0].Key != "log.retention.ms" || c.Synonyms[0].Source != static) {
			t.Errorf("retention.ms synonyms = %+v, want log.retention.ms from the static broker config", c.Synonyms)
		}
	}
	rc, err = adm.DescribeBrokerConfigs(ctx, NodeID)
	check("broker 1", rc, err, map[string]want{
		"log.retention.ms":            {"129600000", static},
		"log.segment.bytes":           {"1048576", static},
		"log.flush.interval.messages": {"9223372036854775807", static}, // --fsync never
		"message.max.bytes":           {"1048576", def},
		"auto.create.topics.enable":   {"false", def},
		"broker.id":                   {"1", static},
		"advertised.listeners":        {"PLAINTEXT://" + b.addr, static},
		"num.partitions":              {"1", def},
	})

	// Raw requests: every version, filters, read-only, and refusals.
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Version = v
		res := func(typ kmsg.ConfigResourceType, name string, names ...string) kmsg.DescribeConfigsRequestResource {
			r := kmsg.NewDescribeConfigsRequestResource()
			r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, names
			return r
		}
		req.Resources = []kmsg.DescribeConfigsRequestResource{
			res(kmsg.ConfigResourceTypeTopic, "dc", "retention.ms", "segment.bytes", "no.such.config"),
			res(kmsg.ConfigResourceTypeTopic, "nope"),
			res(kmsg.ConfigResourceTypeTopic, "bad/name"),
			res(kmsg.ConfigResourceTypeBroker, "2"),
			res(kmsg.ConfigResourceTypeBroker, ""),
			res(kmsg.ConfigResourceTypeBrokerLogger, "1"),
		}
		resp := b.dial().roundTrip(req).(*kmsg.DescribeConfigsResponse)
		wantCodes := []int16{0, kerr.UnknownTopicOrPartition.Code, kerr.InvalidTopicException.Code, kerr.InvalidRequest.Code, 0, kerr.InvalidRequest.Code}
		if len(resp.Resources) != len(wantCodes) {
			t.Fatalf("v%d: %d resources answered, want %d", v, len(resp.Resources), len(wantCodes))
		}
		for i, r := range resp.Resources {
			if r.ErrorCode != wantCodes[i] {
				t.Errorf("v%d resource %d (%v %q): error %v, want %v", v, i, r.ResourceType, r.ResourceName, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(wantCodes[i]))
			}
		}
		dc := resp.Resources[0].Configs
		if len(dc) != 2 || dc[0].Name != "retention.ms" || dc[1].Name != "segment.bytes" || !dc[0].ReadOnly || !dc[1].ReadOnly {
			t.Fatalf("v%d: topic dc filtered = %+v, want retention.ms and segment.bytes, read-only", v, dc)
		}
		if v == 0 && (dc[0].IsDefault || dc[1].IsDefault) {
			t.Errorf("v0: is_default = %v, %v; want false for values set away from the default", dc[0].IsDefault, dc[1].IsDefault)
		}
		if n := len(resp.Resources[4].Configs); n != 0 {
			t.Errorf("v%d: the cluster's dynamic defaults have %d configs, want none", v, n)
		}
	}
}

// TestCreateTopicsConfigs: CreateTopics v5+ answers with the new topic's
// configs (the Java AdminClient fails on a null list).
func TestCreateTopicsConfigs(t *testing.T) {
	b := startBroker(t)
	for _, v := range []int16{4, 5, 7} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version = v
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "ct"+string(rune('0'+v)), 2, 1
		req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
		resp := b.dial().roundTrip(req).(*kmsg.CreateTopicsResponse)
		st := resp.Topics[0]
		if st.ErrorCode != 0 {
			t.Fatalf("v%d: %v", v, kerr.ErrorForCode(st.ErrorCode))
		}
		if v < 5 {
			continue
		}
		got := map[string]string{}
		for _, c := range st.Configs {
			got[c.Name] = *c.Value
		}
		if len(got) != 7 || got["cleanup.policy"] != "delete" || got["segment.bytes"] != "67108864" {
			t.Errorf("v%d: configs %v", v, got)
		}
	}
}

// TestOffsetForLeaderEpoch: epoch 0, the epoch of every stored batch, ends
// at the log end; an unknown epoch is UNDEFINED; a stale or future current
// epoch is fenced or unknown; errors per partition.
func TestOffsetForLeaderEpoch(t *testing.T) {
	b := startBroker(t)
	b.createTopic("e", 2)
	ctx := testContext(t)
	cl := b.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, testRecords("e", 1, 7)...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	type ask struct {
		topic          string
		partition      int32
		current, epoch int32
	}
	tests := []struct {
		name      string
		ask       ask
		wantErr   *kerr.Error
		wantEpoch int32
		wantEnd   int64
	}{
		{"epoch 0", ask{"e", 1, -1, 0}, nil, 0, 7},
		{"epoch 0, current 0", ask{"e", 1, 0, 0}, nil, 0, 7},
		{"epoch 0, empty partition", ask{"e", 0, -1, 0}, nil, 0, 0},
		{"epoch above the latest", ask{"e", 1, -1, 3}, nil, -1, -1},
		{"undefined epoch", ask{"e", 1, -1, -1}, nil, -1, -1},
		{"current epoch newer", ask{"e", 1, 2, 0}, kerr.UnknownLeaderEpoch, -1, -1},
		{"current epoch older", ask{"e", 1, -5, 0}, kerr.FencedLeaderEpoch, -1, -1},
		{"unknown topic", ask{"none", 0, -1, 0}, kerr.UnknownTopicOrPartition, -1, -1},
		{"unknown partition", ask{"e", 9, -1, 0}, kerr.UnknownTopicOrPartition, -1, -1},
	}
	for _, tt := range tests {
		for _, v := range []int16{0, 2, 4} {
			if v < 2 && tt.ask.current != -1 {
				continue // no current epoch below v2
			}
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.Version = v
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = tt.ask.topic
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tt.ask.partition, tt.ask.current, tt.ask.epoch
			rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
			req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
			resp := b.dial().roundTrip(req).(*kmsg.OffsetForLeaderEpochResponse)
			sp := resp.Topics[0].Partitions[0]
			wantCode := int16(0)
			if tt.wantErr != nil {
				wantCode = tt.wantErr.Code
			}
			wantEpoch := tt.wantEpoch
			if v == 0 {
				wantEpoch = -1 // v0 has no epoch field; kmsg's default
			}
			if sp.ErrorCode != wantCode || sp.EndOffset != tt.wantEnd || sp.LeaderEpoch != wantEpoch {
				t.Errorf("%s v%d = %v epoch %d end %d, want %v epoch %d end %d", tt.name, v, kerr.ErrorForCode(sp.ErrorCode), sp.LeaderEpoch, sp.EndOffset, tt.wantErr, wantEpoch, tt.wantEnd)
			}
		}
	}
}

// TestEndOffsetFor is Kafka's leader-epoch cache rule, on epoch histories
// replication will make.
func TestEndOffsetFor(t *testing.T) {
	epochs := []epochStart{{2, 10}, {4, 30}, {5, 55}}
	tests := []struct {
		want      int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1},
		{1, 1, 10}, // below every epoch kept: the log start
		{2, 2, 30},
		{3, 2, 30}, // never led: the epoch before it, ended by the next
		{4, 4, 55},
		{5, 5, 80}, // the latest: the log end
		{6, -1, -1},
	}
	for _, tt := range tests {
		if e, end := endOffsetFor(epochs, tt.want, 80); e != tt.wantEpoch || end != tt.wantEnd {
			t.Errorf("endOffsetFor(%d) = %d, %d; want %d, %d", tt.want, e, end, tt.wantEpoch, tt.wantEnd)
		}
	}
	if e, end := endOffsetFor(nil, 0, 80); e != -1 || end != -1 {
		t.Errorf("no epochs: %d, %d", e, end)
	}
}

// TestFetchEmptyRecords: a partition with nothing to return, or an error,
// gets empty records, never null, as from Kafka; librdkafka (kcat,
// confluent-kafka) fails to parse a null.
func TestFetchEmptyRecords(t *testing.T) {
	b := startBroker(t)
	b.createTopic("f", 1)
	for _, v := range []int16{4, 11, 12} {
		req := fetchReq(1<<20, fetchPartition(0, 0, 1<<20), fetchPartition(5, 0, 1<<20))
		req.Version = v
		resp := b.dial().roundTrip(req).(*kmsg.FetchResponse)
		for _, sp := range resp.Topics[0].Partitions {
			if sp.RecordBatches == nil {
				t.Errorf("v%d partition %d (error %v): null records", v, sp.Partition, kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
}
