package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/pb"
)

func TestTailCheck(t *testing.T) {
	type in struct {
		off     uint64
		seq     int64
		noStamp bool
	}
	tests := []struct {
		name         string
		start        uint64
		entries      []in
		wantErrors   []string
		wantReceived int64
	}{
		{"in order", 5, []in{{5, 0, false}, {6, 2, false}, {7, 1, false}}, nil, 3},
		{"gap", 0, []in{{0, 0, false}, {2, 1, false}}, []string{"offset 2 where 1 was next"}, 2},
		{"repeated offset", 0, []in{{0, 0, false}, {1, 1, false}, {1, 2, false}}, []string{"offset 1 where 2 was next"}, 3},
		{"record twice", 0, []in{{0, 3, false}, {1, 3, false}}, []string{"record 3 received twice"}, 1},
		{"no stamp", 0, []in{{0, 0, true}}, []string{"no latency stamp"}, 0},
		{"not this run's", 0, []in{{0, 99, false}, {1, -5, false}}, []string{"record 99 is not one", "record -5 is not one"}, 0},
	}
	for _, tt := range tests {
		r := &benchResult{}
		lr := &latencyRun{clk: realClock{base: time.Now()}, m: &meter{}, r: r, acked: newSeqSet(10), received: newSeqSet(10)}
		e2e, fromSend := &samples{}, &samples{}
		tc := &tailCheck{lr: lr, part: 1, next: tt.start, e2e: e2e, fromSend: fromSend}
		tc.batch()
		for _, e := range tt.entries {
			v := make([]byte, 30)
			if e.noStamp {
				v = v[:latencyStampBytes-1]
			} else {
				latencyStamp{seq: e.seq}.put(v)
			}
			tc.entry(e.off, v)
		}
		if int(r.Errors) != len(tt.wantErrors) {
			t.Errorf("%s: %d errors (first: %q), want %d", tt.name, r.Errors, r.FirstError, len(tt.wantErrors))
		} else if len(tt.wantErrors) > 0 && !strings.Contains(r.FirstError, tt.wantErrors[0]) {
			t.Errorf("%s: first error %q, want it to say %q", tt.name, r.FirstError, tt.wantErrors[0])
		}
		if got := lr.receivedN.Load(); got != tt.wantReceived || int64(len(e2e.d)) != tt.wantReceived || lr.m.records.Load() != tt.wantReceived {
			t.Errorf("%s: %d received, %d samples, %d metered; want %d", tt.name, got, len(e2e.d), lr.m.records.Load(), tt.wantReceived)
		}
	}
}

// TestBenchLatencyModes: with the spin pacer, and over ProduceStream, every
// scheduled record is sent, acknowledged and received once.
func TestBenchLatencyModes(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"spin pacer", []string{"--pacer", "spin", "--partitions", "3"}},
		{"ProduceStream", []string{"--produce-rpc", "stream", "--partitions", "2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fb := fakebroker.Start(t)
			rep := benchJSON(t, fb, append([]string{"latency", "--rate", "2000", "--duration", "300ms", "--warmup", "100ms", "--quiet"}, tt.args...)...)
			r := rep.Results[0]
			// 2000/s for 200 ms after the warm-up: exactly 400 scheduled sends.
			if r.Records != 400 || r.Missing != 0 || r.Errors != 0 || r.Latency.Count != 400 || r.AckLatency.Count != 400 {
				t.Errorf("got %d records (%d timed, %d acks), %d missing, %d errors (%s); want 400, 0, 0",
					r.Records, r.Latency.Count, r.AckLatency.Count, r.Missing, r.Errors, r.FirstError)
			}
			if n := len(fb.ProduceRequests()); n < 400 {
				t.Errorf("the broker saw %d produce requests, want at least 400", n)
			}
		})
	}
}

func TestBenchLatencyProduceErrors(t *testing.T) {
	fb := fakebroker.Start(t)
	// Every fifth record is refused: an error each, and neither missing nor
	// timed.
	refused := func(req *pb.ProduceRequest) bool {
		st, ok := readStamp(req.GetRecords()[0].GetValue())
		return ok && st.seq%5 == 0
	}
	fb.SetProduceHook(func(_ context.Context, req *pb.ProduceRequest) error {
		if refused(req) {
			return status.Error(codes.ResourceExhausted, "refused")
		}
		return nil
	})
	// The figures are printed, and the exit status says they saw errors.
	rep, stderr := benchJSONExit(t, fb, exitError, "latency", "--rate", "1000", "--duration", "250ms", "--warmup", "50ms", "--quiet")
	r := rep.Results[0]
	if want := fmt.Sprintf("bench: %d requests failed", r.Errors); !strings.Contains(stderr, want) {
		t.Errorf("stderr %q, want it to say %q", stderr, want)
	}
	wantErrors := int64(0)
	for _, req := range fb.ProduceRequests() {
		if refused(req) {
			wantErrors++
		}
	}
	// 200 sends fall due after the warm-up; 40 of any 200 in a row are refused.
	if r.Errors != wantErrors || wantErrors == 0 || r.Records != 160 || r.Latency.Count != 160 || r.Missing != 0 || !strings.Contains(r.FirstError, "refused") {
		t.Errorf("got %d errors (%s), %d records (%d timed), %d missing; want %d errors, 160 records, 0 missing",
			r.Errors, r.FirstError, r.Records, r.Latency.Count, r.Missing, wantErrors)
	}
}

func TestLatencyProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	if before == 1 || os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is 1 or set by the environment: the default cannot be told apart")
	}
	tests := []struct {
		name   string
		env    string
		rate   float64
		wantIn int
	}{
		{"low rate: one P", "", 10_000, 1},
		{"high rate: unchanged", "", 50_000, before},
		{"GOMAXPROCS set: unchanged", strconv.Itoa(before), 10_000, before},
	}
	for _, tt := range tests {
		t.Setenv("GOMAXPROCS", tt.env)
		restore := latencyProcs(tt.rate)
		got := runtime.GOMAXPROCS(0)
		restore()
		if got != tt.wantIn || runtime.GOMAXPROCS(0) != before {
			t.Errorf("%s: GOMAXPROCS %d during the run, %d after; want %d, %d", tt.name, got, runtime.GOMAXPROCS(0), tt.wantIn, before)
		}
	}
}
