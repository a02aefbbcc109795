package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
)

// testWait bounds every wait of the tests; nothing sleeps for it.
const testWait = 30 * time.Second

// testBroker is storage on a t.TempDir() and a Server on a loopback port.
type testBroker struct {
	t      testing.TB
	reg    *partition.Registry
	groups *group.Coordinator
	dir    string
	srv    *Server
	addr   string
	served chan error
}

// testClassic are the group timeouts of the tests: sessions as short as
// 100 ms may be asked for, and no initial delay.
var testClassic = group.ClassicConfig{MinSessionTimeout: 100 * time.Millisecond, MaxSessionTimeout: time.Minute, InitialRebalanceDelay: -1}

func startBroker(t testing.TB, opts ...func(*Options)) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), opts...)
}

// startBrokerIn starts a broker on dir, which may hold an earlier one's data.
func startBrokerIn(t testing.TB, dir string, opts ...func(*Options)) *testBroker {
	t.Helper()
	return startBrokerConfigIn(t, dir, partition.Config{Fsync: partition.FsyncNever}, opts...)
}

// startBrokerConfig is startBroker on storage configured by cfg.
func startBrokerConfig(t testing.TB, cfg partition.Config, opts ...func(*Options)) *testBroker {
	t.Helper()
	return startBrokerConfigIn(t, t.TempDir(), cfg, opts...)
}

// startBrokerConfigIn is startBrokerIn on storage configured by cfg.
func startBrokerConfigIn(t testing.TB, dir string, cfg partition.Config, opts ...func(*Options)) *testBroker {
	t.Helper()
	logger := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	cfg.Logger = logger
	reg, err := partition.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := group.Open(dir, group.Config{Topics: reg, Logger: logger, Classic: testClassic})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Registry: FromRegistry(reg), Groups: groups, Logger: logger}
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
	b := &testBroker{t: t, reg: reg, groups: groups, dir: dir, srv: srv, addr: lis.Addr().String(), served: make(chan error, 1)}
	go func() { b.served <- srv.Serve(lis) }()
	t.Cleanup(b.stop)
	return b
}

func (b *testBroker) stop() {
	if b.srv == nil {
		return // stopped already
	}
	defer func() { b.srv = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := b.srv.Stop(ctx); err != nil {
		b.t.Errorf("Stop: %v", err)
	}
	if err := <-b.served; err != nil {
		b.t.Errorf("Serve: %v", err)
	}
	if err := b.groups.Close(); err != nil {
		b.t.Errorf("groups Close: %v", err)
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
