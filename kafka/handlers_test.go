package kafka

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/batch"
)

// TestProducePartitionErrors: what each bad partition of a Produce gets,
// and that nothing of it is stored.
func TestProducePartitionErrors(t *testing.T) {
	b := startBroker(t)
	b.createTopic("p", 1)
	good := testBatch(2, []byte("v"))
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	noSeq := bytes.Clone(good)
	binary.BigEndian.PutUint64(noSeq[43:], 5) // producer id 5, epoch and sequence -1
	batch.SetCRC(noSeq)
	txnBatch := bytes.Clone(good)
	binary.BigEndian.PutUint16(txnBatch[21:], batch.AttrTransactional)
	batch.SetProducer(txnBatch, 5, 0, 0)
	big := testBatch(1, make([]byte, 2<<20)) // over the default 1 MiB record limit
	legacy := bytes.Clone(good)
	legacy[16] = 1
	txn := produceReq(9, 1, "p", 0, testBatch(1, nil))
	txnID := "tx"
	txn.TransactionID = &txnID
	tests := []struct {
		name string
		req  *kmsg.ProduceRequest
		want *kerr.Error
	}{
		{"unknown topic", produceReq(9, 1, "nope", 0, good), kerr.UnknownTopicOrPartition},
		{"unknown partition", produceReq(9, 1, "p", 1, good), kerr.UnknownTopicOrPartition},
		{"negative partition", produceReq(9, 1, "p", -1, good), kerr.UnknownTopicOrPartition},
		{"bad crc", produceReq(9, 1, "p", 0, badCRC), kerr.CorruptMessage},
		{"cut short", produceReq(9, 1, "p", 0, good[:len(good)-3]), kerr.CorruptMessage},
		{"trailing bytes", produceReq(9, 1, "p", 0, append(bytes.Clone(good), 1, 2, 3)), kerr.CorruptMessage},
		{"no records", produceReq(9, 1, "p", 0, nil), kerr.InvalidRecord},
		{"magic 1", produceReq(9, 1, "p", 0, legacy), kerr.UnsupportedForMessageFormat},
		{"record too large", produceReq(9, 1, "p", 0, big), kerr.MessageTooLarge},
		{"producer id without a sequence", produceReq(9, 1, "p", 0, noSeq), kerr.InvalidRecord},
		{"transactional id", txn, kerr.TransactionalIDAuthorizationFailed},
		{"transactional batch", produceReq(9, 1, "p", 0, txnBatch), kerr.TransactionalIDAuthorizationFailed},
		{"acks 2", produceReq(9, 2, "p", 0, good), kerr.InvalidRequiredAcks},
		{"produce v2", produceReq(2, 1, "p", 0, good), kerr.UnsupportedForMessageFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := b.dial().roundTrip(tt.req).(*kmsg.ProduceResponse)
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != tt.want.Code {
				t.Fatalf("error %v (%v), want %v", kerr.ErrorForCode(sp.ErrorCode), sp.ErrorMessage, tt.want)
			}
			if tt.req.Version >= 8 && sp.ErrorMessage == nil {
				t.Error("no error message")
			}
		})
	}
	p, _ := b.reg.Partition("p", 0)
	if o, _ := p.Offsets(testContext(t)); o.Next != 0 {
		t.Errorf("refused produces stored records: next offset %d", o.Next)
	}
	// Two batches in one partition's records are both stored, in order.
	two := append(testBatch(2, []byte("a")), testBatch(3, []byte("b"))...)
	resp := b.dial().roundTrip(produceReq(7, -1, "p", 0, two)).(*kmsg.ProduceResponse)
	if sp := resp.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.BaseOffset != 0 || sp.LogStartOffset != 0 {
		t.Errorf("two batches: %+v", sp)
	}
	if o, _ := p.Offsets(testContext(t)); o.Next != 5 {
		t.Errorf("two batches stored up to %d, want 5", o.Next)
	}
}

func fetchReq(maxBytes int32, parts ...kmsg.FetchRequestTopicPartition) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.MaxBytes, req.MaxWaitMillis, req.MinBytes, req.SessionEpoch = 12, maxBytes, 0, 1, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "f"
	rt.Partitions = parts
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchPartition(p int32, offset int64, max int32) kmsg.FetchRequestTopicPartition {
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, offset, max
	return fp
}

// TestFetchLimits: max_bytes and partition_max_bytes with KIP-74's first
// batch, offsets out of range, and the watermarks.
func TestFetchLimits(t *testing.T) {
	b := startBroker(t)
	b.createTopic("f", 2)
	ctx := testContext(t)
	var sizes [2]int
	for i := range 2 {
		p, _ := b.reg.Partition("f", uint32(i))
		for range 3 { // three batches of 1 KiB values each
			bt := testBatch(4, make([]byte, 1024))
			sizes[i] = len(bt)
			if _, _, err := p.AppendBatch(ctx, bt); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := b.dial()
	fetch := func(req *kmsg.FetchRequest) []kmsg.FetchResponseTopicPartition {
		t.Helper()
		return c.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions
	}
	tests := []struct {
		name      string
		req       *kmsg.FetchRequest
		wantBytes []int // per partition
		wantErr   []*kerr.Error
	}{
		{"all", fetchReq(1<<20, fetchPartition(0, 0, 1<<20), fetchPartition(1, 0, 1<<20)), []int{3 * sizes[0], 3 * sizes[1]}, nil},
		{"max bytes 1: first batch only (KIP-74)", fetchReq(1, fetchPartition(0, 0, 1<<20), fetchPartition(1, 0, 1<<20)), []int{sizes[0], 0}, nil},
		{"partition max 1", fetchReq(1<<20, fetchPartition(0, 0, 1), fetchPartition(1, 0, 1)), []int{sizes[0], 0}, nil},
		{"from the middle of a batch", fetchReq(1<<20, fetchPartition(0, 6, 1<<20)), []int{2 * sizes[0]}, nil},
		{"at the end", fetchReq(1<<20, fetchPartition(0, 12, 1<<20)), []int{0}, nil},
		{"past the end", fetchReq(1<<20, fetchPartition(0, 13, 1<<20)), []int{0}, []*kerr.Error{kerr.OffsetOutOfRange}},
		{"negative offset", fetchReq(1<<20, fetchPartition(0, -1, 1<<20)), []int{0}, []*kerr.Error{kerr.OffsetOutOfRange}},
		{"unknown partition", fetchReq(1<<20, fetchPartition(7, 0, 1<<20)), []int{0}, []*kerr.Error{kerr.UnknownTopicOrPartition}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := fetch(tt.req)
			for i, sp := range parts {
				var want int16
				if tt.wantErr != nil {
					want = tt.wantErr[i].Code
				}
				if sp.ErrorCode != want || len(sp.RecordBatches) != tt.wantBytes[i] {
					t.Errorf("partition %d: error %d, %d bytes; want %d, %d", i, sp.ErrorCode, len(sp.RecordBatches), want, tt.wantBytes[i])
				}
				if sp.ErrorCode != kerr.UnknownTopicOrPartition.Code && (sp.HighWatermark != 12 || sp.LastStableOffset != 12 || sp.LogStartOffset != 0) {
					t.Errorf("partition %d: watermarks %d/%d/%d, want 12/12/0", i, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset)
				}
			}
		})
	}
	req := fetchReq(1<<20, fetchPartition(0, 0, 1<<20))
	req.SessionID = 5
	if r := c.roundTrip(req).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("session 5: error %d, want FETCH_SESSION_ID_NOT_FOUND", r.ErrorCode)
	}
}

// TestCreateTopicsChecks: each refusal CreateTopics makes, and that
// validate_only creates nothing.
func TestCreateTopicsChecks(t *testing.T) {
	b := startBroker(t)
	b.createTopic("exists", 1)
	topic := func(name string, parts int32, rf int16) kmsg.CreateTopicsRequestTopic {
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, parts, rf
		return ct
	}
	withConfig := topic("cfg", 1, 1)
	withConfig.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "cleanup.policy"}}
	assigned := topic("assigned", -1, -1)
	for i := range 3 {
		assigned.ReplicaAssignment = append(assigned.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: []int32{NodeID}})
	}
	badAssign := topic("badassign", -1, -1)
	badAssign.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{2}}}
	tests := []struct {
		topic     kmsg.CreateTopicsRequestTopic
		want      *kerr.Error
		wantParts int32
	}{
		{topic("ok", 3, 1), nil, 3},
		{topic("default", -1, -1), nil, DefaultPartitions},
		{assigned, nil, 3},
		{topic("exists", 1, 1), kerr.TopicAlreadyExists, 0},
		{topic("bad/name", 1, 1), kerr.InvalidTopicException, 0},
		{topic("rf2", 1, 2), kerr.InvalidReplicationFactor, 0},
		{topic("zero", 0, 1), kerr.InvalidPartitions, 0},
		{topic("many", 1<<20, 1), kerr.InvalidPartitions, 0},
		{withConfig, kerr.InvalidConfig, 0},
		{badAssign, kerr.InvalidReplicaAssignment, 0},
	}
	for _, validateOnly := range []bool{true, false} {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.ValidateOnly = 7, validateOnly
		for _, tt := range tests {
			req.Topics = append(req.Topics, tt.topic)
		}
		resp := b.dial().roundTrip(req).(*kmsg.CreateTopicsResponse)
		for i, rt := range resp.Topics {
			tt := tests[i]
			var want int16
			if tt.want != nil {
				want = tt.want.Code
			}
			if rt.ErrorCode != want || (want == 0 && rt.NumPartitions != tt.wantParts) {
				t.Errorf("validate_only=%v %s: error %v (%v), %d partitions; want %v, %d", validateOnly, rt.Topic, kerr.ErrorForCode(rt.ErrorCode), rt.ErrorMessage, rt.NumPartitions, tt.want, tt.wantParts)
			}
			_, err := b.reg.Partition(rt.Topic, 0)
			if exists := err == nil; want == 0 && exists == validateOnly {
				t.Errorf("validate_only=%v %s: exists %v", validateOnly, rt.Topic, exists)
			}
		}
	}
	// v5+ success carries a configs list, empty rather than null (null is
	// decoded as nil): Kafka's admin client fails on a null one.
	req5 := kmsg.NewPtrCreateTopicsRequest()
	req5.Version = 5
	req5.Topics = []kmsg.CreateTopicsRequestTopic{topic("configs", 1, 1)}
	for _, validateOnly := range []bool{true, false} {
		req5.ValidateOnly = validateOnly
		for _, rt := range b.dial().roundTrip(req5).(*kmsg.CreateTopicsResponse).Topics {
			if rt.ErrorCode != 0 || rt.Configs == nil {
				t.Errorf("validate_only=%v v5 %s: error %d, configs %v; want 0 and an empty list", validateOnly, rt.Topic, rt.ErrorCode, rt.Configs)
			}
		}
	}
	// A name twice in one request: both refused.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version = 7
	req.Topics = []kmsg.CreateTopicsRequestTopic{topic("twice", 1, 1), topic("twice", 1, 1)}
	for _, rt := range b.dial().roundTrip(req).(*kmsg.CreateTopicsResponse).Topics {
		if rt.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("twice: error %d, want INVALID_REQUEST", rt.ErrorCode)
		}
	}
}
