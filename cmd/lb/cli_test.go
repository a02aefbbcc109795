package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type result struct {
	code           int
	stdout, stderr string
}

// lbAt runs the CLI against addr with stdin and args.
func lbAt(t *testing.T, addr, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	full := append([]string{"--addr", addr}, args...)
	code := run(ctx, full, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func lb(t *testing.T, fb *fakebroker.Broker, args ...string) result {
	t.Helper()
	return lbAt(t, fb.Addr(), "", args...)
}

func (r result) want(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || r.stdout != stdout {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d, stdout:\n%s", r.code, r.stdout, r.stderr, code, stdout)
	}
}

func (r result) wantErr(t *testing.T, code int, stderrParts ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d; stderr:\n%s", r.code, code, r.stderr)
	}
	for _, p := range stderrParts {
		if !strings.Contains(r.stderr, p) {
			t.Errorf("stderr does not say %q:\n%s", p, r.stderr)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	fb := fakebroker.Start(t)
	tests := []struct {
		args []string
		want []string // parts of stderr
	}{
		{nil, []string{"lb: no command given", "Run 'lb --help'"}},
		{[]string{"frob"}, []string{`unknown command "frob"`}},
		{[]string{"--bogus"}, []string{"flag provided but not defined: -bogus"}},
		{[]string{"topics"}, []string{"create, list, describe or delete"}},
		{[]string{"topics", "frob"}, []string{`unknown subcommand "frob"`}},
		{[]string{"topics", "create"}, []string{"lb topics create: want one topic NAME, got 0", "Usage: lb topics create NAME"}},
		{[]string{"topics", "create", "a", "b"}, []string{"want one topic NAME, got 2"}},
		{[]string{"topics", "create", "a", "--partitions", "0"}, []string{"--partitions 0: want 1 or more"}},
		{[]string{"topics", "create", "a", "--partitions", "x"}, []string{`invalid value "x" for flag -partitions`}},
		{[]string{"topics", "list", "extra"}, []string{"takes no arguments"}},
		{[]string{"topics", "describe"}, []string{"want one topic NAME"}},
		{[]string{"produce"}, []string{"lb produce: missing TOPIC"}},
		{[]string{"produce", "t", "--acks", "all"}, []string{`--acks "all": want none`}},
		{[]string{"produce", "t", "--header", "novalue"}, []string{`"novalue": want key=value`}},
		{[]string{"produce", "t", "--partition", "-2"}, []string{"--partition -2: want 0 or more"}},
		{[]string{"consume"}, []string{"want one TOPIC, got 0"}},
		{[]string{"consume", "t", "--from", "first"}, []string{`--from "first": want earliest, latest or an offset`}},
		{[]string{"consume", "t", "--output", "xml"}, []string{`--output "xml": want plain or json`}},
		{[]string{"consume", "t", "--timeout", "soon"}, []string{"invalid value"}},
	}
	for _, tt := range tests {
		r := lb(t, fb, tt.args...)
		if r.code != exitUsage {
			t.Errorf("lb %v: exit %d, want %d; stderr:\n%s", tt.args, r.code, exitUsage, r.stderr)
		}
		for _, p := range tt.want {
			if !strings.Contains(r.stderr, p) {
				t.Errorf("lb %v: stderr does not say %q:\n%s", tt.args, p, r.stderr)
			}
		}
		if r.stdout != "" {
			t.Errorf("lb %v: wrote to stdout: %q", tt.args, r.stdout)
		}
	}
}

func TestHelp(t *testing.T) {
	fb := fakebroker.Start(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Commands:\n  topics"},
		{[]string{"-h"}, "Run 'lb <command> --help'"},
		{[]string{"help"}, "Global flags"},
		{[]string{"help", "produce"}, "Usage:\n  lb produce TOPIC [VALUE...]"},
		{[]string{"produce", "--help"}, "--header KEY=VALUE"},
		{[]string{"consume", "--help"}, "--no-follow"},
		{[]string{"topics", "--help"}, "lb topics describe NAME"},
		{[]string{"topics", "create", "--help"}, "--partitions N"},
		{[]string{"topics", "list", "-h"}, "--addr HOST:PORT"},
	}
	for _, tt := range tests {
		r := lb(t, fb, tt.args...)
		if r.code != exitOK || !strings.Contains(r.stdout, tt.want) {
			t.Errorf("lb %v: exit %d, stdout does not say %q:\n%s", tt.args, r.code, tt.want, r.stdout)
		}
	}
}

func TestTopics(t *testing.T) {
	fb := fakebroker.Start(t)
	lb(t, fb, "topics", "list").want(t, exitOK, "")
	lb(t, fb, "topics", "create", "orders", "--partitions", "3").want(t, exitOK, "created topic orders with 3 partitions\n")
	lb(t, fb, "topics", "create", "--partitions=1", "audit.log").want(t, exitOK, "created topic audit.log with 1 partition\n")
	lb(t, fb, "topics", "create", "orders").wantErr(t, exitError, `lb: topic "orders" already exists`)
	lb(t, fb, "topics", "list").want(t, exitOK, ""+
		"NAME       PARTITIONS\n"+
		"audit.log  1\n"+
		"orders     3\n")

	for range 12 {
		fb.Append("orders", 1, &pb.Record{Value: []byte("v")})
	}
	fb.SetLogStart("orders", 1, 2)
	lb(t, fb, "topics", "describe", "orders").want(t, exitOK, ""+
		"topic orders: 3 partitions\n"+
		"PARTITION  LOG-START  NEXT  COUNT\n"+
		"0          0          0     0\n"+
		"1          2          12    10\n"+
		"2          0          0     0\n")

	lb(t, fb, "topics", "delete", "orders").want(t, exitOK, "deleted topic orders\n")
	lb(t, fb, "topics", "describe", "orders").wantErr(t, exitError, `lb: topic "orders" not found`, "lb topics list")
	lb(t, fb, "topics", "delete", "orders").wantErr(t, exitError, `topic "orders" not found`)
}

func TestUnreachableBroker(t *testing.T) {
	addr := testutil.ClosedAddr(t)
	for _, args := range [][]string{
		{"topics", "list"},
		{"produce", "t", "v"},
		{"consume", "t"},
	} {
		r := lbAt(t, addr, "", args...)
		r.wantErr(t, exitError, "cannot reach broker at "+addr+": is it running? start it with: go run ./cmd/broker")
	}
}

func TestAddrFromEnv(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	t.Setenv(addrEnv, fb.Addr())
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"topics", "list"}, strings.NewReader(""), &out, &errOut)
	if code != exitOK || !strings.Contains(out.String(), "t  ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	// --addr after the command wins over the environment.
	t.Setenv(addrEnv, testutil.ClosedAddr(t))
	lbAt(t, testutil.ClosedAddr(t), "", "topics", "list", "--addr", fb.Addr()).want(t, exitOK, "NAME  PARTITIONS\nt     1\n")
}

func TestProduceArgs(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("orders", 3)
	p := client.Partition([]byte("user-1"), 3)
	lb(t, fb, "produce", "orders", "a", "--key", "user-1", "b", "--header", "src=cli", "--header", "n=1", "c").
		want(t, exitOK, fmt.Sprintf("produced 3 records to orders/%d at offsets 0..2\n", p))
	got := fb.Entries("orders", p)
	if len(got) != 3 {
		t.Fatalf("partition %d holds %d entries, want 3", p, len(got))
	}
	for i, e := range got {
		if string(e.GetValue()) != string(rune('a'+i)) || string(e.GetKey()) != "user-1" {
			t.Errorf("entry %d = %q/%q", i, e.GetKey(), e.GetValue())
		}
		if h := e.GetHeaders(); len(h) != 2 || h[0].GetKey() != "src" || string(h[0].GetValue()) != "cli" || h[1].GetKey() != "n" {
			t.Errorf("entry %d headers = %v", i, h)
		}
	}

	// "--" lets a value start with a dash.
	other := (p + 1) % 3
	lb(t, fb, "produce", "orders", "--partition", fmt.Sprint(other), "--", "-5", "--key").
		want(t, exitOK, fmt.Sprintf("produced 2 records to orders/%d at offsets 0..1\n", other))
	if got := fb.Entries("orders", other); len(got) != 2 || string(got[0].GetValue()) != "-5" || string(got[1].GetValue()) != "--key" {
		t.Errorf("partition %d = %v", other, got)
	}
}

func TestProduceStdin(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 2)
	lbAt(t, fb.Addr(), "x\ny\r\n\nz", "produce", "t", "--partition", "1").
		want(t, exitOK, "produced 4 records to t/1 at offsets 0..3\n")
	var values []string
	for _, e := range fb.Entries("t", 1) {
		values = append(values, string(e.GetValue()))
	}
	if fmt.Sprintf("%q", values) != `["x" "y" "" "z"]` {
		t.Errorf("values = %q", values)
	}

	r := lbAt(t, fb.Addr(), "", "produce", "t")
	r.want(t, exitOK, "")
	r.wantErr(t, exitOK, "no records to produce")
}

func TestProduceAcksNone(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	lb(t, fb, "produce", "t", "--acks", "none", "a", "b").
		want(t, exitOK, "sent 2 records to t/0 (acks=none: offsets not reported)\n")
	if got := fb.ProduceRequests()[0].GetAcks(); got != pb.Acks_ACKS_NONE {
		t.Errorf("acks = %v", got)
	}
}

func TestProduceErrors(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 2)
	lb(t, fb, "produce", "t", "--partition", "2", "v").
		wantErr(t, exitError, "partition 2 does not exist: topic t has 2 partitions (0..1)")
	lb(t, fb, "produce", "nope", "v").wantErr(t, exitError, `topic "nope" not found`)

	fb.SetProduceHook(func(context.Context, *pb.ProduceRequest) error {
		return fmt.Errorf("disk on fire")
	})
	r := lb(t, fb, "produce", "t", "--partition", "0", "a", "b")
	r.wantErr(t, exitError, "2 of 2 records failed", "disk on fire")
}

func statusErr(code uint32, msg string) error {
	return status.Error(codes.Code(code), msg)
}

// TestProduceStdinInterrupt: Ctrl-C stops lb produce while it waits for the
// next line of standard input (a terminal's read blocks until Enter), and
// what was produced before stays produced.
func TestProduceStdinInterrupt(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--addr", fb.Addr(), "produce", "t"}, pr, &out, &errOut) }()
	if _, err := pw.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the record at the broker", func() bool { return len(fb.Entries("t", 0)) == 1 })
	cancel() // Ctrl-C, with no more input and stdin still open
	select {
	case code := <-done:
		if code != exitError || !strings.Contains(errOut.String(), "interrupted") {
			t.Errorf("exit %d, stderr %q; want %d and interrupted", code, errOut.String(), exitError)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("lb produce still waits on standard input 20 s after Ctrl-C")
	}
}

// TestSubcommandGlobalFlags: global flags may come between a command and
// its subcommand, as the help says ("before or after the command").
func TestSubcommandGlobalFlags(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	lbAt(t, testutil.ClosedAddr(t), "", "topics", "--addr", fb.Addr(), "list").want(t, exitOK, "NAME  PARTITIONS\nt     1\n")
}

// TestGroupOnlyFlagsNeedGroup: --member and --commit-interval mean nothing
// without --group, and are refused rather than ignored.
func TestGroupOnlyFlagsNeedGroup(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	lb(t, fb, "consume", "t", "--member", "m1", "--no-follow").wantErr(t, exitUsage, "--member", "--group")
	lb(t, fb, "consume", "t", "--commit-interval", "5s", "--no-follow").wantErr(t, exitUsage, "--commit-interval", "--group")
}

// TestHelpOfSubcommand: lb help topics create shows create's help.
func TestHelpOfSubcommand(t *testing.T) {
	addr := testutil.ClosedAddr(t)
	r := lbAt(t, addr, "", "help", "topics", "create")
	want := lbAt(t, addr, "", "topics", "create", "--help")
	if r.code != exitOK || r.stdout != want.stdout || want.stdout == "" {
		t.Errorf("lb help topics create: exit %d, printed %q; want %q", r.code, r.stdout, want.stdout)
	}
}

// TestBadGlobalFlags: an empty --addr or a --timeout that is not positive is
// a usage error (exit 2), not a failed call.
func TestBadGlobalFlags(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	lb(t, fb, "topics", "list", "--timeout", "0s").wantErr(t, exitUsage, "--timeout 0s")
	lb(t, fb, "topics", "list", "--timeout", "-1s").wantErr(t, exitUsage, "--timeout -1s")
	lb(t, fb, "topics", "list", "--addr", "").wantErr(t, exitUsage, "--addr is empty")
}
