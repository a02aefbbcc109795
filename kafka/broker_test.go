package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
)

// testWait bounds every wait of the tests; nothing sleeps for it.
const testWait = 30 * time.Second

// testBroker is storage on a t.TempDir() and a Server on a loopback port.
type testBroker struct {
	t      testing.TB
	reg    *partition.Registry
	srv    *Server
	addr   string
	served chan error
}

func startBroker(t testing.TB, opts ...func(*Options)) *testBroker {
	t.Helper()
	return startBrokerConfig(t, partition.Config{Fsync: partition.FsyncNever}, opts...)
}

// startBrokerConfig is startBroker on storage configured by cfg.
func startBrokerConfig(t testing.TB, cfg partition.Config, opts ...func(*Options)) *testBroker {
	t.Helper()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	cfg.Logger = log
	reg, err := partition.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Registry: FromRegistry(reg), Logger: log}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBroker{t: t, reg: reg, srv: srv, addr: lis.Addr().String(), served: make(chan error, 1)}
	go func() { b.served <- srv.Serve(lis) }()
	t.Cleanup(b.stop)
	return b
}

func (b *testBroker) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := b.srv.Stop(ctx); err != nil {
		b.t.Errorf("Stop: %v", err)
	}
	if err := <-b.served; err != nil {
		b.t.Errorf("Serve: %v", err)
	}
	if err := b.reg.Close(); err != nil {
		b.t.Errorf("registry Close: %v", err)
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

func (b *testBroker) createTopic(name string, partitions uint32) {
	b.t.Helper()
	if _, err := b.reg.CreateTopic(testContext(b.t), name, partitions); err != nil {
		b.t.Fatal(err)
	}
}
