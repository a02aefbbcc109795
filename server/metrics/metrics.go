// Package metrics is LogBroker's Prometheus instrumentation: per-partition
// storage figures read from partition.Stats at scrape time, produce, sync and
// group-commit histograms, Consume stream tracking with consumer lag, gRPC
// request counts by method and code, and the Go and process collectors. Its
// Handler serves /metrics and /debug/pprof.
//
// Concurrency: every method of Metrics and Stream is safe for concurrent use,
// and all are safe on a nil receiver (metrics off costs a nil check). The hot
// paths (a produce request, a group commit, a Consume batch) touch only atomics
// and pre-resolved histograms; label lookups and lag are computed at scrape
// time. ObserveCommit runs on partition actor goroutines and never blocks. The
// package starts no goroutines.
package metrics

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/logbroker/logbroker/partition"
)

const namespace = "logbroker"

// StatsSource is what the storage collector reads at scrape time
// (*partition.Registry).
type StatsSource interface {
	Stats() []partition.Stats
}

// Options configures Metrics.
type Options struct {
	Version string // exported as logbroker_build_info{version}
}

// Metrics owns a Prometheus registry and every LogBroker metric. It is a
// partition.Observer (set it in partition.Config.Observer); the server's
// interceptor pair reports every call to it (ObserveUnary, ObserveStream)
// and its Consume loops report through OpenStream, when
// server.Options.Metrics is set.
type Metrics struct {
	reg *prometheus.Registry

	// Produce latency by acks, resolved once so that a request does no label lookup.
	produceNone, produceLeader prometheus.Observer
	syncSeconds                prometheus.Histogram
	commitRequests             prometheus.Histogram
	commitBytes                prometheus.Histogram

	serving    prometheus.Gauge
	recovery   prometheus.Gauge
	recScanned prometheus.Gauge
	recTrunc   prometheus.Gauge

	source atomic.Pointer[StatsSource] // nil until SetStorage

	methods   atomic.Pointer[map[string]*methodStats] // full method name → counters; copy-on-write
	methodsMu sync.Mutex                              // serialises adding a method

	mu    sync.Mutex // guards parts and every partStreams.streams
	parts map[partKey]*partStreams
}

// New builds the metrics and their registry.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), parts: map[partKey]*partStreams{}}
	m.methods.Store(&map[string]*methodStats{})
	// From 50µs to 6.5s: a page-cache append is tens of µs, a slow disk's sync seconds.
	latency := prometheus.ExponentialBuckets(50e-6, 2, 18)
	produce := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "produce_duration_seconds",
		Help:    "Time from a Produce request's arrival to its answer, by acks (leader waits for the append and, with --fsync always, the sync).",
		Buckets: latency,
	}, []string{"acks"})
	m.produceNone = produce.WithLabelValues("none")
	m.produceLeader = produce.WithLabelValues("leader")
	m.syncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "sync_duration_seconds",
		Help:    "Duration of each fsync of a partition's log (per group commit with --fsync always, per tick with interval).",
		Buckets: latency,
	})
	m.commitRequests = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "group_commit_requests",
		Help:    "Produce requests written by one group commit (one write, at most one sync).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 to 1024, the actor's cap
	})
	m.commitBytes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "group_commit_bytes",
		Help:    "Bytes written by one group commit.",
		Buckets: prometheus.ExponentialBuckets(256, 4, 9), // 256 B to 16 MiB; the actor caps at 8 MiB
	})
	m.serving = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "serving",
		Help: "1 while gRPC health reports SERVING; 0 while recovering at start and while shutting down.",
	})
	m.recovery = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "recovery_duration_seconds",
		Help: "How long opening the data directory took at start.",
	})
	m.recScanned = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "recovery_scanned_bytes",
		Help: "Bytes CRC-scanned by crash recovery at start (0 after a clean stop).",
	})
	m.recTrunc = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "recovery_truncated_bytes",
		Help: "Torn-tail bytes cut off by crash recovery at start.",
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; labels carry the broker's version and Go version.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(
		produce, m.syncSeconds, m.commitRequests, m.commitBytes,
		m.serving, m.recovery, m.recScanned, m.recTrunc, build,
		storageCollector{m}, streamCollector{m}, grpcCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the Prometheus registry, for tests and for registering more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics and /debug/pprof/ (pprof is on the metrics
// listener only, never on the gRPC port).
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// SetStorage makes the per-partition metrics and consumer lag read src.
// Until it is called (while storage recovers) they are absent.
func (m *Metrics) SetStorage(src StatsSource) {
	if m == nil {
		return
	}
	m.source.Store(&src)
}

func (m *Metrics) stats() ([]partition.Stats, bool) {
	src := m.source.Load()
	if src == nil || *src == nil {
		return nil, false
	}
	return (*src).Stats(), true
}

// SetServing mirrors the gRPC health status.
func (m *Metrics) SetServing(serving bool) {
	if m == nil {
		return
	}
	v := 0.0
	if serving {
		v = 1
	}
	m.serving.Set(v)
}

// SetRecovery records what opening the data directory found.
func (m *Metrics) SetRecovery(rec partition.RecoveryStats) {
	if m == nil {
		return
	}
	m.recovery.Set(rec.Duration.Seconds())
	m.recScanned.Set(float64(rec.ScannedBytes))
	m.recTrunc.Set(float64(rec.TruncatedBytes))
}

// ObserveCommit implements partition.Observer. A commit that wrote nothing
// is a background sync; a sync of 0 means the fsync mode did not sync.
func (m *Metrics) ObserveCommit(frames, records, bytes int, sync time.Duration) {
	if m == nil {
		return
	}
	if frames > 0 {
		m.commitRequests.Observe(float64(frames))
		m.commitBytes.Observe(float64(bytes))
	}
	if sync > 0 {
		m.syncSeconds.Observe(sync.Seconds())
	}
}

var _ partition.Observer = (*Metrics)(nil)
