package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name                   string
		in                     Options
		wantRecv, wantReadDflt int
	}{
		{"zero", Options{}, DefaultMaxRecordBytes + batchHeadroom, DefaultReadBytes},
		{"big records", Options{MaxRecordBytes: 16 << 20}, 16<<20 + batchHeadroom, DefaultReadBytes},
		{"explicit recv", Options{MaxRecvMsgBytes: 123}, 123, DefaultReadBytes},
		{"default read over cap", Options{DefaultReadBytes: 8 << 20, MaxReadBytes: 2 << 20}, DefaultMaxRecordBytes + batchHeadroom, 2 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Registry = newFakeRegistry()
			got, err := tt.in.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			if got.MaxRecvMsgBytes != tt.wantRecv || got.DefaultReadBytes != tt.wantReadDflt {
				t.Errorf("MaxRecvMsgBytes, DefaultReadBytes = %d, %d; want %d, %d", got.MaxRecvMsgBytes, got.DefaultReadBytes, tt.wantRecv, tt.wantReadDflt)
			}
		})
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a Registry succeeded")
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	hc := healthpb.NewHealthClient(h.conn)
	check := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q): %v", service, err)
		}
		if resp.GetStatus() != want {
			t.Errorf("Check(%q) = %s, want %s", service, resp.GetStatus(), want)
		}
	}
	for _, svc := range []string{"", "logbroker.v1.BrokerService"} {
		check(svc, healthpb.HealthCheckResponse_SERVING)
		h.srv.SetServing(false)
		check(svc, healthpb.HealthCheckResponse_NOT_SERVING)
		h.srv.SetServing(true)
		check(svc, healthpb.HealthCheckResponse_SERVING)
	}
	_, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: "nope"})
	wantCode(t, err, codes.NotFound, "")
}

// TestStopEndsHealthWatch: a health Watch stream does not hold Stop up.
func TestStopEndsHealthWatch(t *testing.T) {
	h := newHarness(t)
	w, err := healthpb.NewHealthClient(h.conn).Watch(testCtx(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := w.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch status = %v, %v", resp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestReflection(t *testing.T) {
	h := newHarness(t)
	s, err := reflectionpb.NewServerReflectionClient(h.conn).ServerReflectionInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after CloseSend: %v", err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	got := strings.Join(names, ",")
	for _, want := range []string{"logbroker.v1.BrokerService", "grpc.health.v1.Health"} {
		if !strings.Contains(got, want) {
			t.Errorf("services %s lack %s", got, want)
		}
	}
}

func TestMaxRecvMsgSize(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxRecvMsgBytes = 2048 })
	h.createTopic(t, "t", 1)
	big := &pb.Record{Value: make([]byte, 3000)}
	_, err := h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Records: []*pb.Record{big}})
	wantCode(t, err, codes.ResourceExhausted, "")
	if off := h.partition(t, "t", 0); func() bool { o, _ := off.Offsets(context.Background()); return o.Next != 0 }() {
		t.Error("an oversized request changed the log")
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	h := newHarness(t)
	h.reg.mu.Lock()
	h.reg.panics = true
	h.reg.mu.Unlock()
	_, err := h.client.ListTopics(testCtx(t), &pb.ListTopicsRequest{})
	wantCode(t, err, codes.Internal, "ListTopics")
	h.reg.mu.Lock()
	h.reg.panics = false
	h.reg.mu.Unlock()
	if _, err := h.client.ListTopics(testCtx(t), &pb.ListTopicsRequest{}); err != nil {
		t.Fatalf("after a panic the server does not serve: %v", err)
	}
}

// TestStopDeadline: an in-flight call that outlives Stop's deadline is cut
// off, and Stop reports the deadline.
func TestStopDeadline(t *testing.T) {
	h := newHarness(t)
	entered, release := make(chan struct{}), make(chan struct{})
	h.reg.mu.Lock()
	h.reg.onCreate = func() { close(entered); <-release }
	h.reg.mu.Unlock()
	called := make(chan error, 1)
	go func() {
		_, err := h.client.CreateTopic(context.Background(), &pb.CreateTopicRequest{Name: "t", Partitions: 1})
		called <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.srv.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Stop = %v, want the context's error", err)
	}
	wantCode(t, <-called, codes.Unavailable, "")
	close(release)
}

// TestDeadClientFreed: a client that stops answering (its connection goes
// silent, as when its host dies) has its stream freed by server keepalive.
func TestDeadClientFreed(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Keepalive = keepalive.ServerParameters{Time: time.Second, Timeout: 200 * time.Millisecond}
	})
	h.createTopic(t, "t", 1)
	p := h.partition(t, "t", 0)

	px := newSilencer(t, h.addr)
	conn, err := grpc.NewClient(px.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := pb.NewBrokerServiceClient(conn).Consume(ctx, &pb.ConsumeRequest{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the tail to subscribe", func() bool { _, _, _, subs := p.stats(); return subs == 1 })
	px.silence()
	testutil.WaitFor(t, "keepalive to free the dead client's stream", func() bool { _, _, _, subs := p.stats(); return subs == 0 })
}

// silencer is a TCP proxy that can stop forwarding without closing: what the
// server sees of a client whose host has died.
type silencer struct {
	addr   string
	mu     sync.Mutex
	silent bool
}

func newSilencer(t *testing.T, target string) *silencer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silencer{addr: lis.Addr().String()}
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	track := func(c net.Conn) {
		connsMu.Lock()
		conns = append(conns, c)
		connsMu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := lis.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			track(in)
			track(out)
			wg.Add(2)
			go func() { defer wg.Done(); s.pipe(out, in) }()
			go func() { defer wg.Done(); s.pipe(in, out) }()
		}
	}()
	t.Cleanup(func() {
		lis.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *silencer) silence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = true
}

// pipe copies src to dst until src fails; once silenced it drops everything.
func (s *silencer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		s.mu.Lock()
		silent := s.silent
		s.mu.Unlock()
		if !silent {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}
