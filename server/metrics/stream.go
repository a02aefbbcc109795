package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

func consumeDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "consume", name), help, partLabels, nil)
}

var (
	descStreams     = consumeDesc("streams", "Open Consume and ConsumeBatches streams reading the partition.")
	descRecordsSent = consumeDesc("sent_records_total", "Records sent to Consume streams of the partition.")
	descBytesSent   = consumeDesc("sent_bytes_total", "Stored record bytes sent to Consume streams of the partition.")
	descLag         = consumeDesc("lag_records", "Largest lag among the partition's open streams: its next offset minus the offset the slowest stream reads next. Absent while no stream is open.")
)

type partKey struct {
	topic     string
	partition uint32
}

// partStreams is the consume side of one partition. The counters are
// atomics, added to by the streams; streams is guarded by Metrics.mu.
type partStreams struct {
	records, bytes atomic.Uint64
	streams        map[*Stream]struct{}
}

// Stream tracks one Consume stream: what it sent and the offset it reads
// next. A nil *Stream (metrics off) does nothing.
type Stream struct {
	m    *Metrics
	part *partStreams
	next atomic.Uint64
}

// OpenStream registers a stream of topic/partition that starts reading at
// offset. The caller must Close it.
func (m *Metrics) OpenStream(topic string, partition uint32, offset uint64) *Stream {
	if m == nil {
		return nil
	}
	k := partKey{topic, partition}
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := m.parts[k]
	if ps == nil {
		ps = &partStreams{streams: map[*Stream]struct{}{}}
		m.parts[k] = ps
	}
	s := &Stream{m: m, part: ps}
	s.next.Store(offset)
	ps.streams[s] = struct{}{}
	return s
}

// Sent records one batch sent; next is the offset the stream reads next.
// It costs three atomic operations.
func (s *Stream) Sent(records, bytes int, next uint64) {
	if s == nil {
		return
	}
	s.part.records.Add(uint64(records))
	s.part.bytes.Add(uint64(bytes))
	s.next.Store(next)
}

// Close unregisters the stream. Safe to call more than once.
func (s *Stream) Close() {
	if s == nil {
		return
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	delete(s.part.streams, s)
}

// streamCollector exports the consume metrics. Lag is computed here, from
// each stream's next offset and the partition's, so streams never look up
// the partition's end on their own path.
type streamCollector struct{ m *Metrics }

func (c streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreams, descRecordsSent, descBytesSent, descLag} {
		ch <- d
	}
}

func (c streamCollector) Collect(ch chan<- prometheus.Metric) {
	stats, known := c.m.stats()
	next := make(map[partKey]uint64, len(stats))
	for _, s := range stats {
		next[partKey{s.Topic, s.Partition}] = s.Next
	}
	// Snapshot under the lock, send after: streams opening and closing
	// must not wait on the scrape's consumer of ch.
	type row struct {
		k                   partKey
		streams             int
		records, bytes, lag uint64
		hasLag              bool
	}
	c.m.mu.Lock()
	rows := make([]row, 0, len(c.m.parts))
	for k, ps := range c.m.parts {
		end, exists := next[k]
		if known && !exists && len(ps.streams) == 0 {
			delete(c.m.parts, k) // the topic was deleted and nobody reads it
			continue
		}
		r := row{k: k, streams: len(ps.streams), records: ps.records.Load(), bytes: ps.bytes.Load()}
		r.hasLag = exists && r.streams > 0
		for s := range ps.streams {
			// A stream may be ahead of the published end for a moment
			// (it read a commit whose stats are not yet stored): lag 0.
			if n := s.next.Load(); n < end && end-n > r.lag {
				r.lag = end - n
			}
		}
		rows = append(rows, r)
	}
	c.m.mu.Unlock()
	for _, r := range rows {
		t, p := r.k.topic, strconv.FormatUint(uint64(r.k.partition), 10)
		ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(r.streams), t, p)
		ch <- prometheus.MustNewConstMetric(descRecordsSent, prometheus.CounterValue, float64(r.records), t, p)
		ch <- prometheus.MustNewConstMetric(descBytesSent, prometheus.CounterValue, float64(r.bytes), t, p)
		if r.hasLag {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(r.lag), t, p)
		}
	}
}
