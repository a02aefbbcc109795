package metrics

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSource is a StatsSource whose partitions the test sets.
type fakeSource struct {
	mu    sync.Mutex
	stats []partition.Stats
}

func (f *fakeSource) Stats() []partition.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]partition.Stats(nil), f.stats...)
}

func (f *fakeSource) set(s ...partition.Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats = s
}

func tp(topic, p string) map[string]string { return map[string]string{"topic": topic, "partition": p} }

func TestNilMetricsIsOff(t *testing.T) {
	var m *Metrics
	m.SetStorage(&fakeSource{})
	m.SetServing(true)
	m.SetRecovery(partition.RecoveryStats{Duration: time.Second})
	m.ObserveCommit(1, 1, 1, time.Millisecond)
	m.ObserveUnary("/a/b", nil, time.Millisecond, nil)
	m.ObserveStream("/a/b", nil)
	s := m.OpenStream("t", 0, 0)
	s.Sent(1, 1, 1)
	s.Close()
}

func TestStorageMetricsReadStatsAtScrape(t *testing.T) {
	m := New(Options{Version: "v9.9.9"})
	url := testutil.ServeHTTP(t, m.Handler()) + "/metrics"
	if _, ok := testutil.Sample(testutil.Get(t, url), "logbroker_partition_next_offset", tp("a", "0")); ok {
		t.Fatal("partition metrics before SetStorage")
	}
	src := &fakeSource{}
	m.SetStorage(src)
	src.set(partition.Stats{Topic: "a", Partition: 0, RecordsAppended: 7, BytesAppended: 700, LogStart: 2, Next: 9, Segments: 3, SizeBytes: 4096},
		partition.Stats{Topic: "b", Partition: 5, Next: 1})
	body := testutil.Get(t, url)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"logbroker_partition_appended_records_total", tp("a", "0"), 7},
		{"logbroker_partition_appended_bytes_total", tp("a", "0"), 700},
		{"logbroker_partition_log_start_offset", tp("a", "0"), 2},
		{"logbroker_partition_next_offset", tp("a", "0"), 9},
		{"logbroker_partition_segments", tp("a", "0"), 3},
		{"logbroker_partition_size_bytes", tp("a", "0"), 4096},
		{"logbroker_partition_next_offset", tp("b", "5"), 1},
		{"logbroker_build_info", map[string]string{"version": "v9.9.9", "goversion": goVersion()}, 1},
		{"logbroker_serving", nil, 0},
	}
	for _, tt := range tests {
		if got, ok := testutil.Sample(body, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for _, want := range []string{"go_goroutines ", "process_open_fds ", "go_gc_duration_seconds"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in the exposition", want)
		}
	}
}

func TestLagIsTheSlowestStream(t *testing.T) {
	m := New(Options{})
	src := &fakeSource{}
	m.SetStorage(src)
	url := testutil.ServeHTTP(t, m.Handler()) + "/metrics"
	src.set(partition.Stats{Topic: "t", Partition: 1, Next: 100})
	fast := m.OpenStream("t", 1, 90)
	slow := m.OpenStream("t", 1, 40)
	ahead := m.OpenStream("t", 1, 100)
	ahead.Sent(5, 50, 105) // read a commit whose stats are not published yet

	tests := []struct {
		name        string
		step        func()
		wantLag     float64
		wantStreams float64
		wantSent    float64
	}{
		{"slowest counts", func() {}, 60, 3, 5},
		{"slow catches up part way", func() { slow.Sent(50, 500, 90) }, 10, 3, 55},
		{"appends raise lag", func() { src.set(partition.Stats{Topic: "t", Partition: 1, Next: 130}) }, 40, 3, 55},
		{"all caught up", func() {
			fast.Sent(40, 400, 130)
			slow.Sent(40, 400, 130)
			ahead.Sent(25, 250, 130)
		}, 0, 3, 160},
		{"closed streams leave", func() { fast.Close(); fast.Close(); ahead.Close() }, 0, 1, 160},
	}
	for _, tt := range tests {
		tt.step()
		body := testutil.Get(t, url)
		if got, ok := testutil.Sample(body, "logbroker_consume_lag_records", tp("t", "1")); !ok || got != tt.wantLag {
			t.Errorf("%s: lag = %v (present %v), want %v", tt.name, got, ok, tt.wantLag)
		}
		if got, _ := testutil.Sample(body, "logbroker_consume_streams", tp("t", "1")); got != tt.wantStreams {
			t.Errorf("%s: streams = %v, want %v", tt.name, got, tt.wantStreams)
		}
		if got, _ := testutil.Sample(body, "logbroker_consume_sent_records_total", tp("t", "1")); got != tt.wantSent {
			t.Errorf("%s: sent = %v, want %v", tt.name, got, tt.wantSent)
		}
	}
	slow.Close()
	body := testutil.Get(t, url)
	if _, ok := testutil.Sample(body, "logbroker_consume_lag_records", tp("t", "1")); ok {
		t.Error("lag reported with no open stream")
	}
	if got, ok := testutil.Sample(body, "logbroker_consume_sent_bytes_total", tp("t", "1")); !ok || got != 1600 {
		t.Errorf("sent bytes = %v (present %v), want 1600 kept after the streams closed", got, ok)
	}
	src.set() // topic deleted: its consume series go once nobody reads it
	if body := testutil.Get(t, url); strings.Contains(body, `topic="t"`) {
		t.Errorf("deleted topic still exported:\n%s", body)
	}
}

func TestObserveCommit(t *testing.T) {
	m := New(Options{})
	url := testutil.ServeHTTP(t, m.Handler()) + "/metrics"
	m.ObserveCommit(3, 30, 3000, 2*time.Millisecond)
	m.ObserveCommit(1, 1, 100, 0)                // --fsync never: no sync
	m.ObserveCommit(0, 0, 0, 5*time.Millisecond) // a background sync
	body := testutil.Get(t, url)
	tests := []struct {
		name string
		want float64
	}{
		{"logbroker_group_commit_requests_count", 2},
		{"logbroker_group_commit_requests_sum", 4},
		{"logbroker_group_commit_bytes_sum", 3100},
		{"logbroker_sync_duration_seconds_count", 2},
	}
	for _, tt := range tests {
		if got, ok := testutil.Sample(body, tt.name, nil); !ok || got != tt.want {
			t.Errorf("%s = %v (present %v), want %v", tt.name, got, ok, tt.want)
		}
	}
	if got, _ := testutil.Sample(body, "logbroker_sync_duration_seconds_sum", nil); got < 0.007 || got > 0.0071 {
		t.Errorf("sync sum = %v, want 0.007", got)
	}
}

func TestObserveCallsByMethodAndCode(t *testing.T) {
	m := New(Options{})
	url := testutil.ServeHTTP(t, m.Handler()) + "/metrics"
	produce := pb.BrokerService_Produce_FullMethodName
	m.ObserveUnary(produce, &pb.ProduceRequest{}, time.Millisecond, nil)
	m.ObserveUnary(produce, &pb.ProduceRequest{Acks: pb.Acks_ACKS_NONE}, time.Millisecond, nil)
	m.ObserveUnary(produce, &pb.ProduceRequest{}, time.Millisecond, status.Error(codes.NotFound, "x"))
	m.ObserveUnary("/logbroker.v1.BrokerService/ListTopics", nil, time.Millisecond, nil)
	m.ObserveUnary("odd", nil, 0, errors.New("plain error"))
	m.ObserveStream("/logbroker.v1.BrokerService/Consume", status.Error(codes.Canceled, "bye"))

	body := testutil.Get(t, url)
	req := func(svc, method, code string) map[string]string {
		return map[string]string{"service": svc, "method": method, "code": code}
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"logbroker_grpc_requests_total", req("logbroker.v1.BrokerService", "Produce", "OK"), 2},
		{"logbroker_grpc_requests_total", req("logbroker.v1.BrokerService", "Produce", "NotFound"), 1},
		{"logbroker_grpc_requests_total", req("logbroker.v1.BrokerService", "ListTopics", "OK"), 1},
		{"logbroker_grpc_requests_total", req("logbroker.v1.BrokerService", "Consume", "Canceled"), 1},
		{"logbroker_grpc_requests_total", req("unknown", "odd", "Unknown"), 1},
		{"logbroker_produce_duration_seconds_count", map[string]string{"acks": "leader"}, 2},
		{"logbroker_produce_duration_seconds_count", map[string]string{"acks": "none"}, 1},
	}
	for _, tt := range tests {
		if got, ok := testutil.Sample(body, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := testutil.Sample(body, "logbroker_grpc_requests_total", req("logbroker.v1.BrokerService", "ListTopics", "Internal")); ok {
		t.Error("a code that never happened is exported")
	}
}

func TestPprofOnTheSameListener(t *testing.T) {
	url := testutil.ServeHTTP(t, New(Options{}).Handler())
	if body := testutil.Get(t, url+"/debug/pprof/"); !strings.Contains(body, "goroutine") {
		t.Errorf("pprof index lacks profiles:\n%s", body)
	}
	if body := testutil.Get(t, url+"/debug/pprof/cmdline"); body == "" {
		t.Error("empty cmdline")
	}
}

func TestSetServingAndRecovery(t *testing.T) {
	m := New(Options{})
	url := testutil.ServeHTTP(t, m.Handler()) + "/metrics"
	m.SetServing(true)
	m.SetRecovery(partition.RecoveryStats{Duration: 1500 * time.Millisecond, ScannedBytes: 10, TruncatedBytes: 3})
	body := testutil.Get(t, url)
	for name, want := range map[string]float64{
		"logbroker_serving": 1, "logbroker_recovery_duration_seconds": 1.5,
		"logbroker_recovery_scanned_bytes": 10, "logbroker_recovery_truncated_bytes": 3,
	} {
		if got, ok := testutil.Sample(body, name, nil); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
}

func goVersion() string { return runtime.Version() }

// BenchmarkHotPath is what metrics add to one produce request: the call
// count and latency, a 1/8 share of a group commit's histograms (8 requests
// per commit), and one Consume batch, from parallel goroutines.
func BenchmarkHotPath(b *testing.B) {
	m := New(Options{})
	produce := pb.BrokerService_Produce_FullMethodName
	req := &pb.ProduceRequest{}
	b.RunParallel(func(p *testing.PB) {
		st := m.OpenStream("t", 0, 0)
		defer st.Close()
		i := 0
		for p.Next() {
			m.ObserveUnary(produce, req, 120*time.Microsecond, nil)
			if i%8 == 0 {
				m.ObserveCommit(8, 8, 2048, 0)
			}
			st.Sent(1, 256, uint64(i))
			i++
		}
	})
}
