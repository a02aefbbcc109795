package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/pb"
)

func us(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Microsecond
	}
	return out
}

func seqUs(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(n-i) * time.Microsecond // reversed: summarize sorts
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", us(7), 99.9, 7 * time.Microsecond},
		{"p50 of 4 is the 2nd", us(1, 2, 3, 4), 50, 2 * time.Microsecond},
		{"p99 of 4 is the max", us(1, 2, 3, 4), 99, 4 * time.Microsecond},
		{"p0 is the min", us(1, 2, 3, 4), 0, 1 * time.Microsecond},
		{"p100 is the max", us(1, 2, 3, 4), 100, 4 * time.Microsecond},
		{"p99 of 1000", seqUs(1000)[999:], 99, 1 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.samples, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v, %g) = %v, want %v", tt.name, tt.samples, tt.p, got, tt.want)
		}
	}
}

// TestNearestRank: exact ranks where float error could push them up by one,
// up to the largest run a summary keeps (sampleCap).
func TestNearestRank(t *testing.T) {
	for _, tt := range []struct {
		p    float64
		n    int
		want int
	}{
		{99.9, 1000, 999},
		{99, 100, 99},
		{50, 3, 2},
		{99.9, sampleCap, 19_980_000},
		{99, sampleCap, 19_800_000},
		{99.9, 20_000_001, 19_980_001},
	} {
		if got := nearestRank(tt.p, tt.n); got != tt.want {
			t.Errorf("nearestRank(%g, %d) = %d, want %d", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    latencySummary
	}{
		{"empty", nil, latencySummary{}},
		{"1..1000 µs", seqUs(1000), latencySummary{Count: 1000, MeanUs: 500.5, P50Us: 500, P99Us: 990, P999Us: 999, MaxUs: 1000}},
		{"1..10000 µs", seqUs(10000), latencySummary{Count: 10000, MeanUs: 5000.5, P50Us: 5000, P99Us: 9900, P999Us: 9990, MaxUs: 10000}},
		{"one outlier", us(1, 1, 1, 1, 1, 1, 1, 1, 1, 991), latencySummary{Count: 10, MeanUs: 100, P50Us: 1, P99Us: 991, P999Us: 991, MaxUs: 991}},
	}
	for _, tt := range tests {
		if got := summarize(tt.samples); got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// fakeClock advances only when the pacer sleeps; late makes each sleep
// overshoot, as a busy machine would.
type fakeClock struct {
	t      time.Duration
	late   time.Duration
	sleeps int
}

func (c *fakeClock) now() time.Duration { return c.t }
func (c *fakeClock) sleepUntil(t time.Duration) {
	c.sleeps++
	if t > c.t {
		c.t = t + c.late
	}
}

type emitted struct {
	i        int64
	due, now time.Duration
}

func TestPace(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name      string
		rate      float64
		n         int64
		end       time.Duration
		late      time.Duration
		wantDue   []time.Duration
		wantNow   []time.Duration
		wantSleep int
	}{
		{
			name: "on time, bounded by end", rate: 1000, end: 5 * ms,
			wantDue:   []time.Duration{0, 1 * ms, 2 * ms, 3 * ms, 4 * ms},
			wantNow:   []time.Duration{0, 1 * ms, 2 * ms, 3 * ms, 4 * ms},
			wantSleep: 4,
		},
		{
			name: "bounded by count", rate: 4000, n: 3,
			wantDue:   []time.Duration{0, 250 * time.Microsecond, 500 * time.Microsecond},
			wantNow:   []time.Duration{0, 250 * time.Microsecond, 500 * time.Microsecond},
			wantSleep: 2,
		},
		{
			// Each wake-up is 2.5 ms late: sends that fell due meanwhile go
			// at once, each keeping its own due time (open loop).
			name: "late wake-ups keep the schedule", rate: 1000, end: 6 * ms, late: 2500 * time.Microsecond,
			wantDue:   []time.Duration{0, 1 * ms, 2 * ms, 3 * ms, 4 * ms, 5 * ms},
			wantNow:   []time.Duration{0, 3500 * time.Microsecond, 3500 * time.Microsecond, 3500 * time.Microsecond, 6500 * time.Microsecond, 6500 * time.Microsecond},
			wantSleep: 2,
		},
		{name: "zero rate sends nothing", rate: 0, end: 5 * ms},
	}
	for _, tt := range tests {
		clk := &fakeClock{late: tt.late}
		var got []emitted
		n := pace(context.Background(), clk, 0, tt.rate, tt.n, tt.end, func(i int64, due time.Duration) {
			got = append(got, emitted{i, due, clk.now()})
		})
		if int(n) != len(tt.wantDue) || len(got) != len(tt.wantDue) {
			t.Errorf("%s: pace returned %d and emitted %d, want %d", tt.name, n, len(got), len(tt.wantDue))
			continue
		}
		for k, g := range got {
			if g.i != int64(k) || g.due != tt.wantDue[k] || g.now != tt.wantNow[k] {
				t.Errorf("%s: emit %d = %+v, want i=%d due=%v at %v", tt.name, k, g, k, tt.wantDue[k], tt.wantNow[k])
			}
		}
		if clk.sleeps != tt.wantSleep {
			t.Errorf("%s: %d sleeps, want %d", tt.name, clk.sleeps, tt.wantSleep)
		}
	}
}

func TestPaceStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	clk := &fakeClock{}
	n := pace(ctx, clk, 0, 1e6, 0, 0, func(i int64, _ time.Duration) {
		if i == 100 {
			cancel()
		}
	})
	// The context is checked every 64 sends.
	if n != 128 {
		t.Errorf("pace emitted %d after cancel at 100, want 128", n)
	}
}

func TestPaceRealClockNeverEarly(t *testing.T) {
	// No timing assertion: the real clock must only never emit early.
	for _, spin := range []bool{false, true} {
		clk := realClock{base: time.Now(), spin: spin}
		pace(context.Background(), clk, clk.now(), 20000, 50, 0, func(i int64, due time.Duration) {
			if now := clk.now(); now < due {
				t.Errorf("spin=%v: send %d emitted at %v, before its due time %v", spin, i, now, due)
			}
		})
	}
}

func TestStamp(t *testing.T) {
	v := make([]byte, 100)
	want := latencyStamp{due: 123456789, seq: 42, sent: 123999999}
	want.put(v)
	got, ok := readStamp(v)
	if !ok || got != want {
		t.Errorf("readStamp = %+v, %v; want %+v, true", got, ok, want)
	}
	if _, ok := readStamp(v[:23]); ok {
		t.Error("readStamp of 23 bytes is ok, want not ok")
	}
}

func TestParseProc(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (my (odd) broker) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 130 0 0 20 0 12 0 100 1000000 5000 18446744073709551615\n"
	status := "Name:\tbroker\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n"
	root := t.TempDir()
	dir := filepath.Join(root, "4242")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readProc(root, 4242)
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{CPU: 3800 * time.Millisecond, RSS: 100 << 20, RSSMax: 200 << 20}
	if got != want {
		t.Errorf("readProc = %+v, want %+v", got, want)
	}
	if _, err := readProc(root, 1); err == nil {
		t.Error("readProc of a missing pid: no error")
	}
	if _, err := parseStatCPU([]byte("12 (x) S 1 2")); err == nil {
		t.Error("parseStatCPU of a short line: no error")
	}
}

func TestGroupAndFmtUs(t *testing.T) {
	tests := []struct{ got, want string }{
		{group(0), "0"},
		{group(999), "999"},
		{group(1000), "1,000"},
		{group(1234567), "1,234,567"},
		{group(-1234567), "-1,234,567"},
		{fmtUs(61.4), "61µs"},
		{fmtUs(1234), "1.23ms"},
		{fmtUs(250000), "250ms"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	rep := benchReport{Results: []*benchResult{
		{Name: "produce", Records: 2_000_000, Bytes: 200_000_000, Seconds: 2, RecordsPerSec: 1_000_000, MBPerSec: 100,
			Latency: &latencySummary{Count: 2000, P50Us: 800, P99Us: 1500, P999Us: 2500, MaxUs: 4000},
			Broker:  &brokerUsage{CPUSeconds: 1, CPUSecondsPerMillion: 0.5, RSSMaxMiB: 120}},
		{Name: "latency@10,000/s", Records: 100, Seconds: 0.01, RecordsPerSec: 10_000, TargetRate: 10_000, Missing: 3,
			Latency:    &latencySummary{Count: 100, P50Us: 120, P99Us: 400, P999Us: 900, MaxUs: 1200},
			AckLatency: &latencySummary{Count: 100, P50Us: 90, P99Us: 300, P999Us: 800, MaxUs: 1100},
			SendLag:    &latencySummary{Count: 100, P50Us: 5, P99Us: 30, MaxUs: 60},
			FromSend:   &latencySummary{Count: 100, P50Us: 110, P99Us: 350, P999Us: 800, MaxUs: 1100},
			Errors:     1, FirstError: "boom"},
	}}
	var out bytes.Buffer
	if err := writeTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	for _, want := range []string{
		"workload", "records/s", "broker CPU s/M rec",
	} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("header %q lacks %q", lines[0], want)
		}
	}
	for _, want := range [][]string{
		{"produce", "2000000", "2.00", "1,000,000", "100.0", "800µs", "1.50ms", "2.50ms", "4.00ms", "0.50", "120", "0"},
		{"latency@10,000/s", "100", "10,000", "120µs", "400µs", "900µs", "1.20ms", "-", "1"},
	} {
		row := ""
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == want[0] {
				row = l
			}
		}
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("row %q lacks %q", row, w)
			}
		}
	}
	for _, want := range []string{
		"latency@10,000/s: 1 errors; the first: boom",
		"target 10,000 records/s open loop",
		"ack (scheduled send to produce ack): p50 90µs  p99 300µs",
		"send lag (scheduled to actual send, the harness's own delay): p50 5µs",
		"end to end from the actual send (without the schedule's delays): p50 110µs  p99 350µs",
		"3 acknowledged records were never received",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// benchJSON runs lb bench --json against fb and decodes the report.
func benchJSON(t *testing.T, fb *fakebroker.Broker, args ...string) benchReport {
	t.Helper()
	rep, _ := benchJSONExit(t, fb, exitOK, args...)
	return rep
}

// benchJSONExit is benchJSON for a run that exits with wantCode; it also
// returns what went to standard error.
func benchJSONExit(t *testing.T, fb *fakebroker.Broker, wantCode int, args ...string) (benchReport, string) {
	t.Helper()
	r := lb(t, fb, append([]string{"bench", "--json"}, args...)...)
	if r.code != wantCode {
		t.Fatalf("lb bench %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, wantCode, r.stdout, r.stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, r.stdout)
	}
	return rep, r.stderr
}

func TestBenchProduceConsume(t *testing.T) {
	fb := fakebroker.Start(t)
	tests := []struct {
		name       string
		args       []string
		wantNames  []string
		wantPerReq int // records per Produce request
	}{
		{"direct, 2 partitions", []string{"produce", "consume", "--records", "2500", "--batch", "100", "--partitions", "2", "--producers", "3", "--conns", "2"},
			[]string{"produce", "consume-batches", "consume-entries"}, 100},
		{"producer api with linger", []string{"produce", "consume", "--consume-api", "batches", "--records", "700", "--batch", "50", "--api", "producer", "--linger", "1ms"},
			[]string{"produce", "consume-batches"}, 0},
	}
	for _, tt := range tests {
		rep := benchJSON(t, fb, append(tt.args, "--quiet", "--broker-pid", strconv.Itoa(os.Getpid()))...)
		var names []string
		for _, r := range rep.Results {
			names = append(names, r.Name)
			if r.Errors != 0 {
				t.Errorf("%s: %s: %d errors: %s", tt.name, r.Name, r.Errors, r.FirstError)
			}
			if r.Records != rep.Config.Records || r.Bytes != rep.Config.Records*100 {
				t.Errorf("%s: %s moved %d records, %d bytes; want %d, %d", tt.name, r.Name, r.Records, r.Bytes, rep.Config.Records, rep.Config.Records*100)
			}
			if r.Broker == nil || r.Broker.RSSMaxMiB <= 0 {
				t.Errorf("%s: %s: broker usage from /proc missing: %+v", tt.name, r.Name, r.Broker)
			}
		}
		if fmt.Sprint(names) != fmt.Sprint(tt.wantNames) {
			t.Errorf("%s: results %v, want %v", tt.name, names, tt.wantNames)
		}
		if tt.wantPerReq > 0 {
			reqs := fb.ProduceRequests()
			for _, req := range reqs[len(reqs)-5:] {
				if len(req.GetRecords()) != tt.wantPerReq {
					t.Errorf("%s: a request of %d records, want %d", tt.name, len(req.GetRecords()), tt.wantPerReq)
				}
			}
		}
	}
}

func TestBenchConsumeFillsEmptyTopic(t *testing.T) {
	fb := fakebroker.Start(t)
	rep := benchJSON(t, fb, "consume", "--topic", "fresh", "--records", "300", "--batch", "64", "--consume-api", "entries", "--quiet")
	if len(rep.Results) != 1 || rep.Results[0].Name != "consume-entries" || rep.Results[0].Records != 300 {
		t.Fatalf("results %+v, want one consume-entries of 300 records", rep.Results[0])
	}
	if got := len(fb.Entries("fresh", 0)); got != 300 {
		t.Errorf("the fill wrote %d records, want 300", got)
	}
}

// A broker that skips or repeats offsets must not produce a figure.
func TestBenchConsumeRefusesGaps(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	for range 50 {
		fb.Append("t", 0, &pb.Record{Value: []byte("v")})
	}
	fb.SetShift(1) // every stream starts one entry past the requested offset
	for _, api := range []string{"batches", "entries"} {
		r := lb(t, fb, "bench", "consume", "--topic", "t", "--consume-api", api, "--quiet")
		r.wantErr(t, exitError, "offset gap", "want offset 0, got 1")
	}
}

func TestDenseReader(t *testing.T) {
	tests := []struct {
		name        string
		offsets     []uint64
		wantErr     bool
		wantRecords int64
	}{
		{"dense", []uint64{5, 6, 7}, false, 3},
		{"repeated", []uint64{5, 6, 6}, true, 2},
		{"skipped", []uint64{5, 7}, true, 1},
		{"behind", []uint64{4}, true, 0},
	}
	for _, tt := range tests {
		m := &meter{}
		r := denseReader{next: 5, end: 8, m: m}
		var err error
		for _, off := range tt.offsets {
			e, perr := client.ParseEntry(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), off))
			if perr != nil {
				t.Fatal(perr)
			}
			if err = r.take(e); err != nil {
				break
			}
		}
		r.flush()
		if (err != nil) != tt.wantErr || m.records.Load() != tt.wantRecords {
			t.Errorf("%s: error %v, %d records; want error %v, %d records", tt.name, err, m.records.Load(), tt.wantErr, tt.wantRecords)
		}
		if err != nil && !errors.Is(err, errBenchGap) {
			t.Errorf("%s: error %v is not errBenchGap", tt.name, err)
		}
	}
}

func TestBenchLatency(t *testing.T) {
	fb := fakebroker.Start(t)
	rep := benchJSON(t, fb, "latency", "--rate", "2000", "--duration", "400ms", "--warmup", "100ms", "--partitions", "2", "--record-size", "32", "--quiet")
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1", len(rep.Results))
	}
	r := rep.Results[0]
	// 2000/s for 300 ms after the warm-up: exactly 600 scheduled sends.
	if r.Name != "latency@2,000/s" || r.Records != 600 || r.Missing != 0 || r.Errors != 0 {
		t.Errorf("got %s: %d records, %d missing, %d errors (%s); want latency@2,000/s: 600, 0, 0",
			r.Name, r.Records, r.Missing, r.Errors, r.FirstError)
	}
	for name, l := range map[string]*latencySummary{"e2e": r.Latency, "ack": r.AckLatency, "send lag": r.SendLag, "from send": r.FromSend} {
		if l == nil || l.Count != 600 || l.MaxUs < l.P99Us || l.P99Us < l.P50Us {
			t.Errorf("%s latency %+v: want 600 ordered samples", name, l)
		}
	}
	// Every record carries its stamp and went to partition seq mod 2.
	for p := range uint32(2) {
		for _, e := range fb.Entries("lb-bench-latency", p) {
			st, ok := readStamp(e.GetValue())
			if !ok || uint32(st.seq%2) != p || len(e.GetValue()) != 32 || st.sent < st.due {
				t.Fatalf("partition %d holds %+v (stamped %v, %d bytes)", p, st, ok, len(e.GetValue()))
			}
		}
	}
}

func TestBenchTableAndProgress(t *testing.T) {
	fb := fakebroker.Start(t)
	r := lb(t, fb, "bench", "produce", "--records", "100", "--batch", "10")
	if r.code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "workload") || !strings.Contains(r.stdout, "produce") {
		t.Errorf("stdout is not the summary table:\n%s", r.stdout)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	fb := fakebroker.Start(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `unknown workload "frob"`},
		{[]string{"--partitions", "0"}, "--partitions 0: want 1 or more"},
		{[]string{"--record-size", "8"}, "--record-size 8: want 24 or more for latency"},
		{[]string{"produce", "--record-size", "0"}, "--record-size 0: want 1 or more"},
		{[]string{"--api", "fast"}, `--api "fast": want direct or producer`},
		{[]string{"--linger", "5ms"}, "--linger 5ms: wants --api producer"},
		{[]string{"--acks", "all"}, `--acks "all": want none`},
		{[]string{"--consume-api", "x"}, `--consume-api "x": want batches, entries or both`},
		{[]string{"--rate", "0"}, "--rate 0: want more than 0"},
		{[]string{"--warmup", "20s"}, "--warmup 20s: want 0 or more and less than --duration"},
		{[]string{"--batch", "0"}, "--batch 0: want 1 or more"},
		{[]string{"--pacer", "nap"}, `--pacer "nap": want sleep or spin`},
	}
	for _, tt := range tests {
		r := lb(t, fb, append([]string{"bench"}, tt.args...)...)
		r.wantErr(t, exitUsage, tt.want)
	}
	r := lb(t, fb, "bench", "--broker-pid", "999999999")
	r.wantErr(t, exitError, "--broker-pid 999999999", "is it a process on this machine?")
}

func TestFailedRequests(t *testing.T) {
	tests := []struct {
		name string
		rs   []*benchResult
		want string // "" for no error
	}{
		{"clean", []*benchResult{{Name: "produce"}, {Name: "latency@1/s"}}, ""},
		{"errors", []*benchResult{{Errors: 2}, {Errors: 1}}, "bench: 3 requests failed"},
		{"missing", []*benchResult{{Missing: 4}}, "bench: 4 acknowledged records never arrived"},
		{"both", []*benchResult{{Errors: 1, Missing: 2}}, "bench: 1 requests failed and 2 acknowledged records never arrived"},
	}
	for _, tt := range tests {
		err := failedRequests(tt.rs)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errBenchFailed)):
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestBenchProduceLatencyOfSuccessesOnly: produce request latency counts
// only requests that stored their records; a failed one's time is no latency.
func TestBenchProduceLatencyOfSuccessesOnly(t *testing.T) {
	fb := fakebroker.Start(t)
	var n atomic.Int32
	fb.SetProduceHook(func(context.Context, *pb.ProduceRequest) error {
		if n.Add(1)%2 == 0 {
			return status.Error(codes.Unavailable, "every other request fails")
		}
		return nil
	})
	rep, _ := benchJSONExit(t, fb, exitError, "produce", "--records", "1000", "--batch", "100", "--producers", "1", "--quiet")
	r := rep.Results[0]
	if r.Errors == 0 || r.Latency == nil {
		t.Fatalf("errors %d, latency %v: the test exercised nothing", r.Errors, r.Latency)
	}
	if int64(r.Errors)+r.Latency.Count != int64(n.Load()) {
		t.Errorf("%d requests, %d failed, %d latency samples: want a sample for each success only", n.Load(), r.Errors, r.Latency.Count)
	}
}

// TestBenchLatencyUnansweredIsError: a request still unanswered --timeout
// after the schedule ended is cancelled and counted as an error, not
// dropped from the run as if it had never been sent.
func TestBenchLatencyUnansweredIsError(t *testing.T) {
	fb := fakebroker.Start(t)
	var n atomic.Int32
	fb.SetProduceHook(func(ctx context.Context, _ *pb.ProduceRequest) error {
		if n.Add(1) == 50 {
			<-ctx.Done() // this one is never answered
			return ctx.Err()
		}
		return nil
	})
	rep, _ := benchJSONExit(t, fb, exitError, "latency", "--rate", "200", "--duration", "500ms", "--warmup", "0s",
		"--timeout", "300ms", "--quiet")
	// At least the unanswered one; requests queued behind it on its sender
	// when the schedule ended are cancelled and count too.
	if r := rep.Results[0]; r.Errors < 1 {
		t.Errorf("errors %d, want the unanswered request counted", r.Errors)
	}
}
