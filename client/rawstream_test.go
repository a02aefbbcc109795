package client

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/pb"
)

// fillVaried appends n records with keys, headers and timestamps, so every
// field of LogEntry crosses the wire.
func fillVaried(fb *fakebroker.Broker, topic string, n int) {
	for i := range n {
		r := rec(fmt.Sprintf("k%d", i), fmt.Sprintf("value-%d", i))
		r.TimestampMs = int64(1000 + i)
		if i%3 == 0 {
			r.Headers = []*pb.Header{{Key: "trace", Value: []byte(fmt.Sprint(i))}, {Key: "empty"}}
		}
		fb.Append(topic, 0, r)
	}
}

func TestRawStreamsMatchTheGeneratedStub(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fillVaried(fb, "t", 50)
	want := fb.Entries("t", 0)
	c := dialFake(t, fb)
	req := &pb.ConsumeRequest{Topic: "t", Start: pb.Start_START_EARLIEST, StopAtEnd: true, MaxBytes: 100}

	tests := []struct {
		name        string
		recv        func() ([]*pb.LogEntry, error) // one message's entries
		wantBatches int                            // more than one message
	}{
		{"ConsumeBatchesRaw", func() func() ([]*pb.LogEntry, error) {
			s, err := c.ConsumeBatchesRaw(testCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			return func() ([]*pb.LogEntry, error) {
				it, err := s.Recv()
				if err != nil {
					return nil, err
				}
				var out []*pb.LogEntry
				for it.Next() {
					le, err := it.Entry().LogEntry()
					if err != nil {
						return nil, err
					}
					out = append(out, le)
				}
				return out, it.Err()
			}
		}(), 2},
		{"ConsumeRaw", func() func() ([]*pb.LogEntry, error) {
			s, err := c.ConsumeRaw(testCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			return func() ([]*pb.LogEntry, error) {
				e, err := s.Recv()
				if err != nil {
					return nil, err
				}
				le, err := e.LogEntry()
				return []*pb.LogEntry{le}, err
			}
		}(), len(want)},
	}
	for _, tt := range tests {
		var got []*pb.LogEntry
		msgs := 0
		for {
			es, err := tt.recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			got = append(got, es...)
			msgs++
		}
		if len(got) != len(want) || msgs < tt.wantBatches {
			t.Fatalf("%s: %d entries in %d messages, want %d in at least %d", tt.name, len(got), msgs, len(want), tt.wantBatches)
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("%s: entry %d = %v, want %v", tt.name, i, got[i], want[i])
			}
		}
	}
}

func TestRawStreamsReportBrokerErrors(t *testing.T) {
	fb := fakebroker.Start(t)
	c := dialFake(t, fb)
	req := &pb.ConsumeRequest{Topic: "missing", StopAtEnd: true}
	bs, err := c.ConsumeBatchesRaw(testCtx(t), req)
	if err == nil {
		_, err = bs.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("ConsumeBatchesRaw of a missing topic: %v, want NOT_FOUND", err)
	}
	es, err := c.ConsumeRaw(testCtx(t), req)
	if err == nil {
		_, err = es.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("ConsumeRaw of a missing topic: %v, want NOT_FOUND", err)
	}
}

func TestRawCodecJoinsBuffers(t *testing.T) {
	var m rawMsg
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"ab", "cd", "e"}, "abcde"},
		{[]string{"x"}, "x"},
		{nil, ""},
	}
	for _, tt := range tests {
		var data mem.BufferSlice
		for _, s := range tt.in {
			data = append(data, mem.SliceBuffer(s))
		}
		if err := newRawCodec().Unmarshal(data, &m); err != nil || string(m.b) != tt.want {
			t.Errorf("Unmarshal(%q) = %q, %v; want %q", tt.in, m.b, err, tt.want)
		}
	}
}
