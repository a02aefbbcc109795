package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitTimeout = 30 * time.Second

// logSink collects the daemon's JSON log lines and reports its start line.
type logSink struct {
	mu      sync.Mutex
	partial []byte
	lines   []map[string]any
	started chan map[string]any
}

func newLogSink() *logSink { return &logSink{started: make(chan map[string]any, 1)} }

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		var line map[string]any
		if err := json.Unmarshal(s.partial[:i], &line); err != nil {
			line = map[string]any{"unparsed": string(s.partial[:i])}
		}
		s.partial = s.partial[i+1:]
		s.lines = append(s.lines, line)
		if line["message"] == "broker started" {
			s.started <- line
		}
	}
}

func (s *logSink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		out = append(out, l["message"].(string))
	}
	return out
}

type daemon struct {
	cancel context.CancelFunc
	done   chan error
	start  map[string]any
	logs   *logSink
	conn   *grpc.ClientConn
	client pb.BrokerServiceClient
}

// startDaemon runs the daemon on a free loopback port until stop.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{cancel: cancel, done: make(chan error, 1), logs: newLogSink()}
	// A fixed default port would collide with other tests' brokers.
	args = append([]string{"--addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() { d.done <- run(ctx, args, io.Discard, d.logs) }()
	select {
	case d.start = <-d.logs.started:
	case err := <-d.done:
		cancel()
		t.Fatalf("run ended before starting: %v", err)
	case <-time.After(waitTimeout):
		cancel()
		t.Fatal("no start line")
	}
	conn, err := grpc.NewClient(d.start["addr"].(string), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	d.conn, d.client = conn, pb.NewBrokerServiceClient(conn)
	t.Cleanup(func() {
		if d.cancel != nil {
			d.stop(t)
		}
	})
	return d
}

// stop sends the daemon the equivalent of SIGTERM and waits for run.
func (d *daemon) stop(t *testing.T) error {
	t.Helper()
	d.cancel()
	d.cancel = nil
	defer d.conn.Close()
	select {
	case err := <-d.done:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after cancel")
		return nil
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestRunServesRestartsAndStopsCleanly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data") // created if missing
	d := startDaemon(t, "--data-dir", dir)
	if d.start["data_dir"] != dir || d.start["topics"] != float64(0) {
		t.Errorf("start line = %v", d.start)
	}
	for _, field := range []string{"clean", "partitions", "segments", "scanned_segments", "scanned_bytes", "truncated_bytes", "recovery_ms"} {
		if _, ok := d.start[field]; !ok {
			t.Errorf("start line lacks %s: %v", field, d.start)
		}
	}
	hc, err := healthpb.NewHealthClient(d.conn).Check(ctxT(t), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", hc, err)
	}
	if _, err := d.client.ListGroups(ctxT(t), &pb.ListGroupsRequest{}); err != nil {
		t.Fatalf("consumer groups not wired: %v", err)
	}
	if _, err := d.client.CreateTopic(ctxT(t), &pb.CreateTopicRequest{Name: "orders", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	recs := []*pb.Record{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}}
	if _, err := d.client.Produce(ctxT(t), &pb.ProduceRequest{Topic: "orders", Partition: 1, Records: recs}); err != nil {
		t.Fatal(err)
	}
	tail, err := d.client.Consume(ctxT(t), &pb.ConsumeRequest{Topic: "orders", Partition: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if e, err := tail.Recv(); err != nil || e.GetOffset() != uint64(i) {
			t.Fatalf("tail entry %d = %v, %v", i, e, err)
		}
	}

	// The tail is now waiting for appends; stopping must end it, not wait.
	if err := d.stop(t); err != nil {
		t.Fatalf("run after stop = %v, want nil", err)
	}
	if _, err := tail.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("open tail ended with %v, want UNAVAILABLE", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".clean-shutdown")); err != nil {
		t.Errorf("no clean-shutdown marker: %v", err)
	}
	msgs := strings.Join(d.logs.messages(), "|")
	if !strings.Contains(msgs, "shutting down") || !strings.Contains(msgs, "broker stopped") {
		t.Errorf("log messages %s", msgs)
	}

	d = startDaemon(t, "--data-dir", dir)
	if d.start["clean"] != true || d.start["topics"] != float64(1) || d.start["partitions"] != float64(2) || d.start["scanned_segments"] != float64(0) {
		t.Errorf("restart line = %v, want a clean start with 1 topic, 2 partitions, nothing scanned", d.start)
	}
	s, err := d.client.Consume(ctxT(t), &pb.ConsumeRequest{Topic: "orders", Partition: 1, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		e, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(e.GetValue()))
	}
	if strings.Join(got, "") != "abc" {
		t.Errorf("after restart partition 1 holds %q, want abc", got)
	}
}

func TestRunStartErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	locked := t.TempDir()
	startDaemon(t, "--data-dir", locked) // holds the directory's lock until the test ends
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	listenDir := t.TempDir()

	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		// The listeners come up before storage opens: a free port lets the
		// storage error show.
		{"data dir is a file", []string{"--data-dir", file, "--addr", "127.0.0.1:0", "--kafka-addr", ""}, file},
		{"data dir in use", []string{"--data-dir", locked, "--addr", "127.0.0.1:0", "--kafka-addr", ""}, "in use by another broker"},
		{"metrics address in use", []string{"--data-dir", listenDir, "--addr", "127.0.0.1:0", "--kafka-addr", "", "--metrics-addr", busy.Addr().String()}, "metrics: listen on " + busy.Addr().String()},
		{"address in use", []string{"--data-dir", listenDir, "--addr", busy.Addr().String(), "--kafka-addr", ""}, "listen on " + busy.Addr().String()},
		{"kafka address in use", []string{"--data-dir", listenDir, "--addr", "127.0.0.1:0", "--kafka-addr", busy.Addr().String()}, "listen on " + busy.Addr().String() + " (--kafka-addr)"},
		// Refused as a usage error (exit 2) before anything listens.
		{"bad address", []string{"--data-dir", listenDir, "--addr", "127.0.0.1:http-nope"}, `--addr "127.0.0.1:http-nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(ctxT(t), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("run = %v, want one line naming %q", err, tt.wantMsg)
			}
		})
	}
	// A failed start released the directory: the next start on it works.
	startDaemon(t, "--data-dir", listenDir)
}

func TestRunVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(ctxT(t), []string{"--version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "broker ") || !strings.Contains(out.String(), "go1.") {
		t.Errorf("--version printed %q", out.String())
	}
	out.Reset()
	if err := run(ctxT(t), []string{"-h"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Usage: broker") {
		t.Errorf("-h printed %q", out.String())
	}
	if err := run(ctxT(t), []string{"--fsync", "x"}, &out, io.Discard); !errors.As(err, new(usageError)) {
		t.Errorf("bad flag: %v, want a usage error", err)
	}
}

// TestRunStopDuringRecovery: a signal while storage is still recovering ends
// run without waiting for the recovery (systemd would kill it at its stop
// timeout); storage that finishes opening afterwards is closed again.
func TestRunStopDuringRecovery(t *testing.T) {
	release, opening, closed := make(chan struct{}), make(chan struct{}), make(chan struct{})
	openStorageFn = func(cfg config, logger zerolog.Logger, m *metrics.Metrics) (storage, error) {
		close(opening)
		<-release
		st, err := openStorage(cfg, logger, m)
		close(closed) // returned to run's goroutine, which closes it
		return st, err
	}
	defer func() { openStorageFn = openStorage }()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--data-dir", dir, "--addr", "127.0.0.1:0", "--kafka-addr", ""}, io.Discard, io.Discard)
	}()
	<-opening
	cancel() // SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("run still waits for the recovery after the stop")
	}
	close(release)
	<-closed
	// The storage opened late is closed: the directory can be used again.
	deadline := time.Now().Add(waitTimeout)
	for {
		r, err := partition.Open(dir, partition.Config{})
		if err == nil {
			r.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the late storage was never closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
