package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

func TestConsumeNoFollowPlain(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 2)
	for _, v := range []string{"a", "b", "c", "d"} {
		fb.Append("t", 1, &pb.Record{Value: []byte(v)})
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--partition", "1", "--no-follow"}, "a\nb\nc\nd\n"},
		{[]string{"--partition", "1", "--no-follow", "--from", "2", "--max-bytes", "1"}, "c\nd\n"},
		{[]string{"--partition", "1", "--no-follow", "--from", "4"}, ""},
		{[]string{"--partition", "1", "--no-follow", "--from", "latest"}, ""},
		{[]string{"--no-follow"}, ""},
	}
	for _, tt := range tests {
		lb(t, fb, append([]string{"consume", "t"}, tt.args...)...).want(t, exitOK, tt.want)
	}
}

func TestConsumeJSON(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fb.Append("t", 0,
		&pb.Record{
			Key: []byte("user-1"), Value: []byte(`{"id":1} <ok>`), TimestampMs: 1700000000123,
			Headers: []*pb.Header{{Key: "src", Value: []byte("cli")}, {Key: "bin", Value: []byte{0xff}}},
		},
		&pb.Record{Value: []byte{0x00, 0xfe}, TimestampMs: 1700000000124},
	)
	want := `{"partition":0,"offset":0,"key":"user-1","value":"{\"id\":1} <ok>","headers":[{"key":"src","value":"cli"},{"key":"bin","value":null,"value_base64":"/w=="}],"timestamp":"2023-11-14T22:13:20.123Z","timestamp_ms":1700000000123}
{"partition":0,"offset":1,"key":null,"value":null,"value_base64":"AP4=","headers":[],"timestamp":"2023-11-14T22:13:20.124Z","timestamp_ms":1700000000124}
`
	lb(t, fb, "consume", "t", "--no-follow", "--output", "json").want(t, exitOK, want)
}

// TestConsumeFromTime starts at the first record at or after a time, given
// in RFC 3339 or Unix milliseconds, with timestamps out of order.
func TestConsumeFromTime(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 2)
	base := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixMilli()
	for i, v := range []string{"a", "b", "c", "d"} {
		ts := base + int64(i-2)*1000 // a 09:59:58, c 10:00:00, d 10:00:01
		if v == "b" {
			ts = base + 5000 // 10:00:05, out of order
		}
		fb.Append("t", 1, &pb.Record{Value: []byte(v), TimestampMs: ts})
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--from-time", "2026-12-05T10:00:00Z"}, "b\nc\nd\n"},
		{[]string{"--from-time", "2026-12-05T11:00:00+01:00"}, "b\nc\nd\n"},
		{[]string{"--from-time", "2026-12-05T10:00:04.5Z"}, "b\nc\nd\n"},
		{[]string{"--from-time", "2026-12-05T10:00:05.001Z"}, ""},
		{[]string{"--from-time", "2026-12-05T09:59:59Z"}, "b\nc\nd\n"},
		{[]string{"--from-time", "2026-12-05T09:00:00Z"}, "a\nb\nc\nd\n"},
		{[]string{"--from-time", fmt.Sprint(base + 5000)}, "b\nc\nd\n"},
		{[]string{"--from-time", fmt.Sprint(base + 5001)}, ""},
	}
	for _, tt := range tests {
		lb(t, fb, append([]string{"consume", "t", "--partition", "1", "--no-follow"}, tt.args...)...).want(t, exitOK, tt.want)
	}
	lb(t, fb, "consume", "t", "--from-time", "yesterday").wantErr(t, exitUsage, `--from-time "yesterday": want RFC 3339`)
	lb(t, fb, "consume", "t", "--from-time", "0").wantErr(t, exitUsage, "after the Unix epoch")
	lb(t, fb, "consume", "t", "--from-time", "1", "--from", "3").wantErr(t, exitUsage, "--from-time goes without --from")
	lb(t, fb, "consume", "t", "--from-time", "1", "--partition", "2").wantErr(t, exitError, "partition 2 does not exist")
}

func TestConsumeErrors(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 2)
	for range 10 {
		fb.Append("t", 0, &pb.Record{Value: []byte("v")})
	}
	lb(t, fb, "consume", "t", "--from", "50").
		wantErr(t, exitError, "offset 50 is out of range for t/0: it holds offsets 0..9; --from 10 waits for the next record")
	lb(t, fb, "consume", "t", "--from", "1", "--partition", "1").
		wantErr(t, exitError, "offset 1 is out of range for t/1: it is empty; --from 0 waits")
	lb(t, fb, "consume", "t", "--partition", "2").
		wantErr(t, exitError, "partition 2 does not exist: topic t has 2 partitions (0..1)")
	lb(t, fb, "consume", "nope").wantErr(t, exitError, `topic "nope" not found`, "lb topics list")
}

// Following: records appear as they are appended, a dropped stream is
// resumed without duplicates, and Ctrl-C (ctx cancelled) exits 0.
func TestConsumeFollow(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fb.Append("t", 0, &pb.Record{Value: []byte("one")})
	fb.DropNextStreams(1)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", fb.Addr(), "consume", "t"}, strings.NewReader(""), &out, &errOut)
	}()
	testutil.WaitFor(t, "the first record printed", func() bool { return out.String() == "one\n" })
	fb.Append("t", 0, &pb.Record{Value: []byte("two")}, &pb.Record{Value: []byte("three")})
	testutil.WaitFor(t, "all three records printed", func() bool { return out.String() == "one\ntwo\nthree\n" })
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d after Ctrl-C, want 0; stderr:\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "lb: consume stream lost; reconnecting") {
		t.Errorf("stderr does not mention the reconnect:\n%s", errOut.String())
	}
	if got := out.String(); got != "one\ntwo\nthree\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestDescribeErrorForPerson(t *testing.T) {
	var buf bytes.Buffer
	e := &env{addr: "127.0.0.1:1", timeout: 3 * time.Second, stderr: &buf}
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "no answer from the broker at 127.0.0.1:1 within 3s"},
		{statusErr(14, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\""),
			"cannot reach broker at 127.0.0.1:1: is it running? start it with: go run ./cmd/broker"},
		{statusErr(14, "broker shutting down"), "broker at 127.0.0.1:1 is unavailable (it may be shutting down; try again): broker shutting down"},
		{statusErr(3, `topic name "a/b" is invalid`), `the broker refused the request: topic name "a/b" is invalid`},
		{statusErr(8, "disk full"), "out of resources (disk full or too many open files?): disk full"},
		{statusErr(8, "grpc: received message larger than max (5242893 vs. 4195328)"), "over the broker's message limit (its --max-record-bytes plus 4 MiB)"},
		{statusErr(15, "crc mismatch at offset 42"), "the broker found corrupt data: crc mismatch at offset 42"},
		{statusErr(12, "unknown method"), "does not support this request"},
		{statusErr(13, "boom"), "broker error (Internal): boom"},
	}
	for _, tt := range tests {
		if got := describe(tt.err, e); !strings.Contains(got, tt.want) {
			t.Errorf("describe(%v) = %q, want it to contain %q", tt.err, got, tt.want)
		}
	}
}
