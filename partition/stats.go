package partition

import (
	"sort"
	"sync/atomic"
	"time"
)

// Stats is a point-in-time view of one partition for metrics. Reading it
// costs a few atomic loads and never waits on the actor.
type Stats struct {
	Topic           string
	Partition       uint32
	RecordsAppended uint64 // since start
	BytesAppended   uint64 // framed bytes written since start
	LogStart        uint64
	Next            uint64
	Segments        int
	SizeBytes       int64 // bytes of all segments on disk
}

// Observer receives storage events, for metrics. It is called on actor
// goroutines, so implementations must be cheap and never block.
type Observer interface {
	// ObserveCommit reports one group commit: how many produce requests
	// (frames) and records it wrote in one write, the bytes, and how long its
	// sync took (0 when the fsync mode did not sync).
	ObserveCommit(frames, records, bytes int, sync time.Duration)
}

// stats holds the values Stats reads. Only the actor writes them.
type stats struct {
	records, bytes atomic.Uint64
	logStart, next atomic.Uint64
	segments       atomic.Int64
	size           atomic.Int64
}

// publish copies the Log's state, and the core's durable point, into the
// atomics after a change.
func (s *stats) publish(l *Log, durable uint64) {
	s.logStart.Store(l.LogStart())
	s.next.Store(durable)
	s.segments.Store(int64(l.Segments()))
	s.size.Store(l.Size())
}

// Stats reads the partition's counters without asking the actor.
func (p *Partition) Stats() Stats {
	return Stats{
		Topic:           p.topic,
		Partition:       p.id,
		RecordsAppended: p.stats.records.Load(),
		BytesAppended:   p.stats.bytes.Load(),
		LogStart:        p.stats.logStart.Load(),
		Next:            p.stats.next.Load(),
		Segments:        int(p.stats.segments.Load()),
		SizeBytes:       p.stats.size.Load(),
	}
}

// Stats reads every partition's counters, sorted by topic and partition.
func (r *Registry) Stats() []Stats {
	m := r.load()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Stats
	for _, n := range names {
		for _, p := range m[n].parts {
			out = append(out, p.Stats())
		}
	}
	return out
}
