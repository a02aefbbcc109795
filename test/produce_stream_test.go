package test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
)

// TestProduceStream: requests sent ahead on one ProduceStream are stored in
// the order sent and answered in that order, one response each; ACKS_NONE
// ones answer [0, 0] and still hold their offsets; closing the sending side
// ends the stream with OK once all are answered.
func TestProduceStream(t *testing.T) {
	for _, mode := range []partition.FsyncMode{partition.FsyncAlways, partition.FsyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			b := startInproc(t, func(c *partition.Config, _ *server.Options) { c.Fsync = mode })
			b.createTopic("s", 2)
			s, err := b.Client().ProduceStream(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			var want []string
			counts := make([]uint64, n) // records in each request
			for i := range n {
				acks := pb.Acks_ACKS_LEADER
				if i%7 == 3 {
					acks = pb.Acks_ACKS_NONE
				}
				recs := vals(fmt.Sprintf("r%d", i))
				if i%5 == 0 {
					recs = vals(fmt.Sprintf("r%d", i), fmt.Sprintf("r%d+", i))
				}
				for _, r := range recs {
					want = append(want, string(r.GetValue()))
				}
				counts[i] = uint64(len(recs))
				if err := s.Send(&pb.ProduceRequest{Topic: "s", Partition: 1, Records: recs, Acks: acks}); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if err := s.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var next uint64
			for i := range n {
				resp, err := s.Recv()
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				count := counts[i]
				switch {
				case i%7 == 3:
					if resp.GetBaseOffset() != 0 || resp.GetLastOffset() != 0 {
						t.Fatalf("response %d (ACKS_NONE) = [%d, %d], want [0, 0]", i, resp.GetBaseOffset(), resp.GetLastOffset())
					}
				case resp.GetBaseOffset() != next || resp.GetLastOffset() != next+count-1:
					t.Fatalf("response %d = [%d, %d], want [%d, %d]", i, resp.GetBaseOffset(), resp.GetLastOffset(), next, next+count-1)
				}
				next += count
			}
			if _, err := s.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last response: %v, want the stream's end (io.EOF)", err)
			}
			testutil.WaitFor(t, "every record readable", func() bool { return b.offsets("s", 1).GetNextOffset() == next })
			if got := valuesOf(b.readAll("s", 1, 0)); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("stored %q, want %q", got, want)
			}
			if b.offsets("s", 0).GetNextOffset() != 0 {
				t.Fatal("partition 0 got records sent to partition 1")
			}
		})
	}
}

// TestProduceStreamEndsAtFirstError: a bad request ends the stream with its
// code (as Produce would answer it); requests before it are stored and
// answered, and none sent after it is stored.
func TestProduceStreamEndsAtFirstError(t *testing.T) {
	tooBig := make([]byte, partition.DefaultMaxRecordBytes+1)
	tests := []struct {
		name     string
		bad      *pb.ProduceRequest
		wantCode codes.Code
	}{
		{"unknown topic", &pb.ProduceRequest{Topic: "nope", Records: vals("x")}, codes.NotFound},
		{"partition not in the topic", &pb.ProduceRequest{Topic: "e", Partition: 9, Records: vals("x")}, codes.NotFound},
		{"no records", &pb.ProduceRequest{Topic: "e"}, codes.InvalidArgument},
		{"record over the limit", &pb.ProduceRequest{Topic: "e", Records: []*pb.Record{{Value: tooBig}}}, codes.InvalidArgument},
		{"bad topic name", &pb.ProduceRequest{Topic: "a/b", Records: vals("x")}, codes.InvalidArgument},
	}
	b := startInproc(t)
	b.createTopic("e", 1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.offsets("e", 0).GetNextOffset()
			s, err := b.Client().ProduceStream(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range []*pb.ProduceRequest{{Topic: "e", Records: vals("ok")}, tt.bad, {Topic: "e", Records: vals("after")}} {
				if err := s.Send(req); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err) // io.EOF: the broker already ended the stream
				}
			}
			resp, err := s.Recv()
			if err != nil || resp.GetBaseOffset() != before {
				t.Fatalf("first response %v, %v; want offset %d", resp, err, before)
			}
			_, err = s.Recv()
			if status.Code(err) != tt.wantCode {
				t.Fatalf("after the bad request: %v, want %s", err, tt.wantCode)
			}
			if got := b.offsets("e", 0).GetNextOffset(); got != before+1 {
				t.Fatalf("next offset %d, want %d: only the request before the bad one stored", got, before+1)
			}
		})
	}
}

// TestProduceStreamStop: Stop ends an open ProduceStream with UNAVAILABLE;
// what it answered before is stored.
func TestProduceStreamStop(t *testing.T) {
	b := startInproc(t)
	b.createTopic("st", 1)
	conn := faultConn(t, b.addr) // its own: stopServer closes the broker's client
	defer conn.Close()
	s, err := pb.NewBrokerServiceClient(conn).ProduceStream(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&pb.ProduceRequest{Topic: "st", Records: vals("kept")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	b.stopServer()
	if _, err := s.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Stop: %v, want UNAVAILABLE", err)
	}
	b.Restart()
	if got := valuesOf(b.readAll("st", 0, 0)); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("after restart: %q, want [kept]", got)
	}
}
