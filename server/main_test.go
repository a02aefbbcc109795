package server

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait in these tests; it is generous because the
// machine is shared and -race is slow. Nothing sleeps for it.
const waitTimeout = 20 * time.Second

type harness struct {
	reg    *fakeRegistry
	addr   string
	srv    *Server
	conn   *grpc.ClientConn
	client pb.BrokerServiceClient
}

// newHarness serves a fake registry.
func newHarness(t testing.TB, opts ...func(*Options)) *harness {
	t.Helper()
	reg := newFakeRegistry()
	h := serve(t, Options{Registry: reg, MaxPartitions: 8}, opts...)
	h.reg = reg
	return h
}

// serve serves o.Registry over real gRPC on loopback until the test ends.
func serve(t testing.TB, o Options, opts ...func(*Options)) *harness {
	t.Helper()
	h := &harness{}
	o.Logger = testLogger(t)
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	h.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	h.client = pb.NewBrokerServiceClient(h.conn)
	t.Cleanup(func() {
		h.conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func (h *harness) createTopic(t testing.TB, name string, n uint32) {
	t.Helper()
	if _, err := h.client.CreateTopic(testCtx(t), &pb.CreateTopicRequest{Name: name, Partitions: n}); err != nil {
		t.Fatalf("CreateTopic(%q, %d): %v", name, n, err)
	}
}

func (h *harness) produce(t *testing.T, topic string, p uint32, recs ...*pb.Record) *pb.ProduceResponse {
	t.Helper()
	resp, err := h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: topic, Partition: p, Records: recs})
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	return resp
}

func (h *harness) partition(t *testing.T, topic string, id uint32) *fakePartition {
	t.Helper()
	p, err := h.reg.partition(topic, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func values(vs ...string) []*pb.Record {
	out := make([]*pb.Record, len(vs))
	for i, v := range vs {
		out[i] = &pb.Record{Value: []byte(v)}
	}
	return out
}

// drain reads a stream to its end and returns what it got and how it ended.
func drain[T any](t *testing.T, recv func() (*T, error)) ([]*T, error) {
	t.Helper()
	var got []*T
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

func wantCode(t *testing.T, err error, want codes.Code, wantMsg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != want {
		t.Fatalf("code = %s (%v), want %s", st.Code(), err, want)
	}
	if wantMsg != "" && !strings.Contains(st.Message(), wantMsg) {
		t.Fatalf("message %q does not name %q", st.Message(), wantMsg)
	}
}
