// Package testbroker runs a real broker (storage, group coordinator and gRPC
// server) in the test's process on 127.0.0.1, for tests of the packages that
// talk to one, such as client/ and cmd/lb.
//
// Concurrency contract: Start is called from the test goroutine; the broker
// serves on its own goroutines, which the test's Cleanup stops and waits for.
package testbroker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/server"
)

// Start serves a broker with cfg (its data directory a fresh t.TempDir) and
// returns its address. It stops when the test ends.
func Start(t testing.TB, cfg partition.Config) string {
	t.Helper()
	dir := t.TempDir()
	cfg.Logger = zerolog.Nop()
	reg, err := partition.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := group.Open(dir, group.Config{Topics: reg, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Registry: server.FromRegistry(reg), Groups: groups, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("server Stop: %v", err)
		}
		<-served
		groups.Close()
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	return lis.Addr().String()
}
