package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server/metrics"
)

// scraper reads /metrics over HTTP from a loopback listener.
type scraper struct{ url string }

// serveMetrics serves m.Handler on 127.0.0.1:0 until the test ends.
func serveMetrics(t *testing.T, m *metrics.Metrics) scraper {
	t.Helper()
	return scraper{testutil.ServeHTTP(t, m.Handler()) + "/metrics"}
}

func (s scraper) scrape(t *testing.T) string {
	t.Helper()
	return testutil.Get(t, s.url)
}

// value is one sample of name with exactly labels (given as k, v, k, v...);
// -1 when absent.
func (s scraper) value(t *testing.T, name string, kv ...string) float64 {
	t.Helper()
	return sampleOf(s.scrape(t), name, kv...)
}

// sampleOf is testutil.Sample with labels given as k, v, k, v...; -1 when
// absent.
func sampleOf(body, name string, kv ...string) float64 {
	labels := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	if v, ok := testutil.Sample(body, name, labels); ok {
		return v
	}
	return -1
}

// waitValue polls the scrape until cond holds for name's value.
func (s scraper) waitValue(t *testing.T, what string, cond func(float64) bool, name string, kv ...string) float64 {
	t.Helper()
	var v float64
	testutil.WaitFor(t, what, func() bool {
		v = s.value(t, name, kv...)
		return cond(v)
	})
	return v
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// newMetricsHarness serves real storage with metrics on, as the daemon wires it.
func newMetricsHarness(t *testing.T) (*harness, scraper) {
	t.Helper()
	m := metrics.New(metrics.Options{Version: "test"})
	reg, err := partition.Open(t.TempDir(), partition.Config{Logger: testLogger(t), Observer: m, SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	m.SetStorage(reg)
	h := serve(t, Options{Registry: FromRegistry(reg), Metrics: m})
	return h, serveMetrics(t, m)
}

// TestMetricsMoveWithProduceAndConsume scrapes /metrics over HTTP while a
// consumer that does not read falls behind and then catches up.
func TestMetricsMoveWithProduceAndConsume(t *testing.T) {
	h, s := newMetricsHarness(t)
	h.createTopic(t, "t", 2)
	tp := []string{"topic", "t", "partition", "0"}
	before := s.scrape(t)
	for _, name := range []string{"logbroker_partition_appended_records_total", "logbroker_partition_next_offset", "logbroker_partition_size_bytes"} {
		if v := sampleOf(before, name, tp...); v != 0 {
			t.Fatalf("%s = %v before any produce, want 0", name, v)
		}
	}
	if v := sampleOf(before, "logbroker_serving"); v != 1 {
		t.Errorf("logbroker_serving = %v, want 1", v)
	}

	// A consumer whose flow-control window stays small (a fixed window turns
	// off gRPC's growing it) and that reads nothing for now.
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	stream, err := pb.NewBrokerServiceClient(conn).Consume(ctx, &pb.ConsumeRequest{Topic: "t", Start: pb.Start_START_LATEST})
	if err != nil {
		t.Fatal(err)
	}
	s.waitValue(t, "the stream to register", eq(1), "logbroker_consume_streams", tp...)
	if v := s.value(t, "logbroker_consume_lag_records", tp...); v != 0 {
		t.Fatalf("lag of a caught-up stream = %v, want 0", v)
	}

	// 400 records of 4 KiB: far more than the stream's window, so the
	// stream stalls in its first batch and its lag stays up.
	const n, size = 400, 4096
	recs := make([]*pb.Record, 100)
	for i := range recs {
		recs[i] = &pb.Record{Value: bytes.Repeat([]byte{'x'}, size)}
	}
	for range n / len(recs) {
		h.produce(t, "t", 0, recs...)
	}
	body := s.scrape(t)
	for _, tt := range []struct {
		name string
		cond func(float64) bool
		want string
	}{
		{"logbroker_partition_appended_records_total", eq(n), "400"},
		{"logbroker_partition_next_offset", eq(n), "400"},
		{"logbroker_partition_log_start_offset", eq(0), "0"},
		{"logbroker_partition_appended_bytes_total", func(v float64) bool { return v > n*size }, "> records' bytes"},
		{"logbroker_partition_size_bytes", func(v float64) bool { return v > n*size }, "> records' bytes"},
		{"logbroker_partition_segments", func(v float64) bool { return v >= 2 }, ">= 2 (1 MiB segments)"},
	} {
		if v := sampleOf(body, tt.name, tp...); !tt.cond(v) {
			t.Errorf("%s = %v, want %s", tt.name, v, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"logbroker_partition_next_offset", []string{"topic", "t", "partition", "1"}, 0},
		{"logbroker_produce_duration_seconds_count", []string{"acks", "leader"}, 4},
		{"logbroker_grpc_requests_total", []string{"service", "logbroker.v1.BrokerService", "method", "Produce", "code", "OK"}, 4},
		{"logbroker_grpc_requests_total", []string{"service", "logbroker.v1.BrokerService", "method", "CreateTopic", "code", "OK"}, 1},
		{"logbroker_group_commit_requests_sum", nil, 4},
	} {
		if v := sampleOf(body, tt.name, tt.kv...); v != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.kv, v, tt.want)
		}
	}
	if v := sampleOf(body, "logbroker_sync_duration_seconds_count"); v < 4 {
		t.Errorf("sync count = %v, want >= 4 (--fsync always syncs each commit)", v)
	}
	lag := s.waitValue(t, "lag to rise", func(v float64) bool { return v > 0 }, "logbroker_consume_lag_records", tp...)
	t.Logf("lag of the stalled stream: %v", lag)

	for i := range n {
		e, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if e.GetOffset() != uint64(i) {
			t.Fatalf("offset %d, want %d", e.GetOffset(), i)
		}
	}
	s.waitValue(t, "lag to fall to 0", eq(0), "logbroker_consume_lag_records", tp...)
	s.waitValue(t, "records sent", eq(n), "logbroker_consume_sent_records_total", tp...)
	if v := s.value(t, "logbroker_consume_sent_bytes_total", tp...); v < n*size {
		t.Errorf("bytes sent = %v, want >= %d", v, n*size)
	}

	cancel()
	s.waitValue(t, "the stream to leave", eq(0), "logbroker_consume_streams", tp...)
	body = s.scrape(t)
	if v := sampleOf(body, "logbroker_consume_lag_records", tp...); v != -1 {
		t.Errorf("lag = %v with no stream, want absent", v)
	}
	if v := sampleOf(body, "logbroker_grpc_requests_total", "service", "logbroker.v1.BrokerService", "method", "Consume", "code", "Canceled"); v != 1 {
		t.Errorf("cancelled Consume counted %v times, want 1", v)
	}
}

// TestStartingRefusesUntilReady: a server started with Starting reports
// NOT_SERVING and refuses BrokerService calls (health still answers) until
// Ready; Stop turns it NOT_SERVING again.
func TestStartingRefusesUntilReady(t *testing.T) {
	m := metrics.New(metrics.Options{})
	s := serveMetrics(t, m)
	h := newHarness(t, func(o *Options) { o.Starting, o.Metrics = true, m })
	hc := healthpb.NewHealthClient(h.conn)
	health := func() healthpb.HealthCheckResponse_ServingStatus {
		resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus()
	}
	if got := health(); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health while starting = %s", got)
	}
	if v := s.value(t, "logbroker_serving"); v != 0 {
		t.Errorf("logbroker_serving while starting = %v", v)
	}
	_, err := h.client.ListTopics(testCtx(t), &pb.ListTopicsRequest{})
	wantCode(t, err, codes.Unavailable, "starting")
	st, err := h.client.Consume(testCtx(t), &pb.ConsumeRequest{Topic: "t"})
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, err, codes.Unavailable, "starting")

	h.srv.Ready()
	if got := health(); got != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after Ready = %s", got)
	}
	if _, err := h.client.ListTopics(testCtx(t), &pb.ListTopicsRequest{}); err != nil {
		t.Fatalf("ListTopics after Ready: %v", err)
	}
	if v := s.value(t, "logbroker_serving"); v != 1 {
		t.Errorf("logbroker_serving after Ready = %v", v)
	}
	if v := s.value(t, "logbroker_grpc_requests_total", "service", "logbroker.v1.BrokerService", "method", "ListTopics", "code", "Unavailable"); v != 1 {
		t.Errorf("refused ListTopics counted %v", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if v := s.value(t, "logbroker_serving"); v != 0 {
		t.Errorf("logbroker_serving after Stop = %v", v)
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestRPCLogNamesTopicAndPartition: every rpc log line about a partition
// carries topic and partition fields, streams included.
func TestRPCLogNamesTopicAndPartition(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, func(o *Options) { o.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel) })
	h.createTopic(t, "orders", 3)
	h.produce(t, "orders", 2, values("a")...)
	st, err := h.client.Consume(testCtx(t), &pb.ConsumeRequest{Topic: "orders", Partition: 1, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, st.Recv); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "orders", Partition: 7, Records: values("x")})
	wantCode(t, err, codes.NotFound, "")
	want := map[string]string{"Produce": "2", "Consume": "1"}
	var lines []map[string]any
	testutil.WaitFor(t, "the stream's log line", func() bool {
		lines = logs.lines(t)
		for _, l := range lines {
			if strings.HasSuffix(fmt.Sprint(l["method"]), "/Consume") {
				return true
			}
		}
		return false
	})
	seen := map[string]int{}
	for _, l := range lines {
		method, _ := l["method"].(string)
		name := method[strings.LastIndexByte(method, '/')+1:]
		if _, ok := want[name]; !ok {
			continue
		}
		seen[name]++
		if l["topic"] != "orders" || l["partition"] == nil {
			t.Errorf("%s log line lacks topic or partition: %v", name, l)
		}
		if name == "Consume" && fmt.Sprint(l["partition"]) != want[name] {
			t.Errorf("Consume log partition = %v, want %s", l["partition"], want[name])
		}
	}
	if seen["Produce"] != 2 || seen["Consume"] != 1 {
		t.Errorf("rpc log lines seen: %v", seen)
	}
}
