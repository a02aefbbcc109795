//go:build unix

package test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/logbroker/logbroker/pb"
)

// The broker's keepalive (server/server.go DefaultKeepaliveTime and
// DefaultKeepaliveTimeout): a dead client's streams are freed within their sum.
const (
	deadKeepaliveTime    = 30 * time.Second
	deadKeepaliveTimeout = 10 * time.Second
)

// TestFaultDeadClient stops a consuming client process (`lb consume`, built
// from cmd/lb) with SIGSTOP in mid-stream, while a producer keeps appending,
// and checks that the broker ends the stream with UNAVAILABLE, and closes
// the connection, within the keepalive window (30 s + 10 s), and not before
// the keepalive time (30 s): the first ping goes out only after 30 s without
// a frame from the client, which was reading until the stop, so a stream
// ended sooner was ended by something else, such as a broker that drops
// clients for reading slowly.
//
// cmd/broker has no flag to shorten the keepalive, so the test takes some
// 45 s and runs only with LOGBROKER_LONG=1.
func TestFaultDeadClient(t *testing.T) {
	if !faultLong() {
		t.Skip("takes the broker's full keepalive window (30 s + 10 s, server/server.go), which cmd/broker has no flag to shorten; run with LOGBROKER_LONG=1")
	}
	lb := BuildBinary(t, "./cmd/lb")
	b := StartProcBroker(t, ProcOptions{Args: []string{"--log-level=debug"}})
	ctx := faultCtx(t, 5*time.Minute)
	if _, err := b.Client().CreateTopic(ctx, &pb.CreateTopicRequest{Name: "dead", Partitions: 1}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// A producer that keeps the stream busy, so the client is stopped with
	// data in flight and flow-control windows filling.
	pctx, stopProducer := context.WithCancel(context.Background())
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; pctx.Err() == nil; i++ {
			recs := []*pb.Record{{Value: []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", 200)))}}
			if _, err := b.Client().Produce(pctx, &pb.ProduceRequest{Topic: "dead", Records: recs}); err != nil && pctx.Err() == nil {
				t.Errorf("produce: %v", err)
				return
			}
			select {
			case <-pctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	defer func() { stopProducer(); <-produced }()

	cmd := exec.Command(lb, "consume", "dead", "--partition", "0", "--from", "earliest")
	cmd.Env = append(brokerEnv(), "LOGBROKER_ADDR="+b.Addr())
	cmd.SysProcAttr = dieWithTest()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lb: %v", err)
	}
	var lines atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines.Add(1)
		}
	}()
	defer func() {
		cmd.Process.Kill()
		<-readDone
		cmd.Wait()
	}()

	deadline := time.Now().Add(time.Minute)
	for lines.Load() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("lb consume printed %d records in a minute", lines.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sockets := brokerSockets(t, b)
	ended := b.WatchLog(func(m map[string]any) bool {
		method, _ := m["method"].(string)
		return m["message"] == "rpc" && (strings.HasSuffix(method, "/Consume") || strings.HasSuffix(method, "/ConsumeBatches"))
	})
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP lb: %v", err)
	}
	stopped := time.Now()
	window := deadKeepaliveTime + deadKeepaliveTimeout
	var line map[string]any
	select {
	case line = <-ended:
	case <-time.After(window + 30*time.Second):
		t.Fatalf("the stopped client's stream was not freed within %s", window+30*time.Second)
	}
	freed := time.Since(stopped)
	// The connection goes with it.
	var after int
	for after = brokerSockets(t, b); after >= sockets; after = brokerSockets(t, b) {
		if time.Since(stopped) > window+30*time.Second {
			t.Fatalf("broker still holds %d sockets (%d before the client stopped)", after, sockets)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if freed > window+5*time.Second {
		t.Errorf("stream freed %s after SIGSTOP, want within the keepalive window %s (+5 s)", freed.Round(time.Millisecond), window)
	}
	if freed < deadKeepaliveTime {
		t.Errorf("stream freed %s after SIGSTOP, before the keepalive time %s: not by the keepalive", freed.Round(time.Millisecond), deadKeepaliveTime)
	}
	if code, _ := line["code"].(string); code != codes.Unavailable.String() {
		t.Errorf("the stopped client's stream ended with code %q (%v), want %v (the transport closed by the keepalive)", line["code"], line["error"], codes.Unavailable)
	}
	t.Logf("FIGURE dead client: %s stream of a SIGSTOPped `lb consume` freed %s after the stop (code %v, %v; keepalive window %s); broker sockets %d -> %d",
		line["method"], freed.Round(100*time.Millisecond), line["code"], line["error"], window, sockets, after)
}

// brokerSockets counts the broker's open sockets.
func brokerSockets(t *testing.T, b *ProcBroker) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", b.PID())
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}
