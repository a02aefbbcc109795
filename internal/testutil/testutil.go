// Package testutil holds the helpers that tests of several packages share:
// waiting for a condition, a loopback address where nothing listens, a
// flipped byte in a file, and serving and reading a Prometheus exposition.
// Only tests import it; it imports nothing of this module, so that any
// package's tests may use it.
//
// Concurrency: every function may be called from any goroutine that may
// call t's methods; ServeHTTP's server goroutine ends in t's cleanup.
package testutil

import (
	"net"
	"os"
	"testing"
	"time"
)

// WaitTimeout bounds WaitFor and Get. It only catches a hang: a test that
// passes never waits for it, so it is generous for slow -race runs.
const WaitTimeout = 30 * time.Second

// WaitFor polls cond every millisecond until it holds, and fails t if it
// does not within WaitTimeout. what names the condition for the failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", WaitTimeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// ClosedAddr is a loopback address where nothing listens: a port the
// system handed out and that was closed at once.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// FlipByte XORs the byte at pos of the file at path with mask, in place.
func FlipByte(t testing.TB, path string, pos int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		t.Fatalf("read %s at %d: %v", path, pos, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
}
