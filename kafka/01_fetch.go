package kafka

import (
	"context"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch v4-12: stored batches as they are on disk, whole; the first batch
// of a partition may start below the fetch offset, and clients skip the
// records below it, as they do with Kafka.
//
// Limits: max_bytes bounds the response and partition_max_bytes each
// partition, except that the first batch of the first partition with data
// is returned whole even when larger (KIP-74), so a large batch never
// stalls a consumer. A response is sent once it holds min_bytes, or when
// max_wait_ms has passed: a fetch short of min_bytes subscribes to its
// partitions, reads once more (an append between the first read and the
// subscription is not missed), then waits on their wake-ups, the timer,
// the connection and the server's stop, never polling.
//
// The high watermark and the last stable offset are the partition's next
// offset (every stored record is committed: there are no replicas to wait
// for and no transactions), and the log start offset is the oldest kept.
// Fetch sessions (KIP-227) are answered with session id 0: every fetch is
// a full one, which clients then keep sending; a request naming a session
// gets FETCH_SESSION_ID_NOT_FOUND.

// maxFetchBytes caps a response's max_bytes: a client asking for more
// gets this much per fetch and comes back.
const maxFetchBytes = 64 << 20

// fetchPart is one partition of a Fetch being answered.
type fetchPart struct {
	p      Partition // nil when looking it up failed
	offset int64
	max    int // partition_max_bytes
	out    *kmsg.FetchResponseTopicPartition
	done   bool // has its answer: records or an error
}

func (s *Server) handleFetch(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if req.Version >= 7 && req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	// The response's partitions are filled in place: make them first, so
	// that the pointers into them hold.
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	var parts []*fetchPart
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			fp := &fetchPart{offset: rp.FetchOffset, max: int(rp.PartitionMaxBytes), out: sp}
			parts = append(parts, fp)
			if rp.Partition < 0 {
				fp.fail(refuse(kerr.UnknownTopicOrPartition, "partition %d", rp.Partition))
				continue
			}
			p, err := s.opts.Registry.Partition(rt.Topic, uint32(rp.Partition))
			if err != nil {
				fp.fail(err)
				continue
			}
			fp.p = p
			if rp.FetchOffset < 0 {
				fp.fail(refuse(kerr.OffsetOutOfRange, "fetch offset %d", rp.FetchOffset))
			}
		}
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 || maxBytes > maxFetchBytes {
		maxBytes = maxFetchBytes
	}
	minBytes := int(req.MinBytes)
	total := s.fill(ctx, parts, 0, maxBytes)
	if total < minBytes && req.MaxWaitMillis > 0 && !s.isStopping() {
		total = s.wait(ctx, parts, total, minBytes, maxBytes, time.Duration(req.MaxWaitMillis)*time.Millisecond)
	}
	for _, fp := range parts {
		// Kafka sends empty records, never null, and librdkafka (kcat,
		// confluent-kafka) refuses a null as a parse failure.
		if fp.out.RecordBatches == nil {
			fp.out.RecordBatches = []byte{}
		}
		if fp.p == nil || fp.out.ErrorCode != 0 && fp.out.ErrorCode != kerr.OffsetOutOfRange.Code {
			continue
		}
		st := fp.p.Stats()
		fp.out.HighWatermark = int64(st.Next)
		fp.out.LastStableOffset = int64(st.Next)
		fp.out.LogStartOffset = int64(st.LogStart)
	}
	return resp, nil
}

func (fp *fetchPart) fail(err error) {
	fp.out.ErrorCode = errorCode(err)
	fp.done = true
}

// fill reads every partition without an answer yet, adding to the total
// bytes of the response so far, and returns the new total.
func (s *Server) fill(ctx context.Context, parts []*fetchPart, total, maxBytes int) int {
	for _, fp := range parts {
		if fp.done {
			continue
		}
		limit := min(maxBytes-total, max(fp.max, 1))
		if limit <= 0 {
			return total // full: the rest get nothing this time
		}
		first := total == 0
		off := uint64(fp.offset)
		b, ok := fp.p.Tail(off, limit)
		if !ok {
			var err error
			if b, err = fp.p.ReadInto(ctx, nil, off, limit); err != nil {
				fp.fail(err)
				continue
			}
		}
		if b.Count == 0 {
			continue // caught up: it may get data while the fetch waits
		}
		// Past the first batch of the response, KIP-74's exception is
		// used up: a batch over the limits waits for a later fetch.
		if len(b.Data) > limit && !first {
			fp.done = true
			continue
		}
		fp.out.RecordBatches = b.Data
		fp.done = true
		total += len(b.Data)
	}
	return total
}

// wait subscribes to the partitions still without data and fills them as
// appends come, until the response holds minBytes, maxWait has passed, the
// connection ends or the server stops. It returns the new total.
func (s *Server) wait(ctx context.Context, parts []*fetchPart, total, minBytes, maxBytes int, maxWait time.Duration) int {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.stopping)},
	}
	const fixed = 3
	for _, fp := range parts {
		if fp.done {
			continue
		}
		sub, err := fp.p.Subscribe(ctx)
		if err != nil {
			fp.fail(err)
			continue
		}
		defer sub.Close()
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sub.C())})
	}
	for {
		// Subscribed before this read: what lands after it wakes us.
		total = s.fill(ctx, parts, total, maxBytes)
		if total >= minBytes || len(cases) == fixed {
			return total
		}
		if i, _, _ := reflect.Select(cases); i < fixed {
			return total
		}
	}
}
