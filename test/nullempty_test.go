package test

import (
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

// TestNullAndEmptyStayApart sends records whose key, value and header value
// are absent (null) or present and empty, as a client that tracks presence
// writes them on the wire, and reads them back through both Consume RPCs:
// absent stays absent and empty stays present and empty, so a Kafka
// consumer of the same records sees null apart from empty.
func TestNullAndEmptyStayApart(t *testing.T) {
	b := startInproc(t)
	b.createTopic("ne", 1)
	type field struct{ present bool }
	cases := []struct {
		name               string
		key, value, header *field // nil: no header at all
	}{
		{"all absent", &field{false}, &field{false}, nil},
		{"empty key", &field{true}, &field{false}, nil},
		{"empty value", &field{false}, &field{true}, nil},
		{"both empty", &field{true}, &field{true}, nil},
		{"null header value", &field{false}, &field{false}, &field{false}},
		{"empty header value", &field{false}, &field{false}, &field{true}},
	}
	// The request by hand: Go's encoder leaves empty bytes fields out.
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType)
	req = protowire.AppendString(req, "ne")
	for _, c := range cases {
		var rec []byte
		if c.key.present {
			rec = protowire.AppendTag(rec, 1, protowire.BytesType)
			rec = protowire.AppendBytes(rec, nil)
		}
		if c.value.present {
			rec = protowire.AppendTag(rec, 2, protowire.BytesType)
			rec = protowire.AppendBytes(rec, nil)
		}
		if c.header != nil {
			var h []byte
			h = protowire.AppendTag(h, 1, protowire.BytesType)
			h = protowire.AppendString(h, "h")
			if c.header.present {
				h = protowire.AppendTag(h, 2, protowire.BytesType)
				h = protowire.AppendBytes(h, nil)
			}
			rec = protowire.AppendTag(rec, 3, protowire.BytesType)
			rec = protowire.AppendBytes(rec, h)
		}
		req = protowire.AppendTag(req, 3, protowire.BytesType)
		req = protowire.AppendBytes(req, rec)
	}
	in, out := rawBytes(req), rawBytes(nil)
	if err := b.conn.Invoke(testContext(t), pb.BrokerService_Produce_FullMethodName, &in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	var resp pb.ProduceResponse
	if err := proto.Unmarshal(out, &resp); err != nil || resp.GetLastOffset() != uint64(len(cases)-1) {
		t.Fatalf("produce: %v, %v", &resp, err)
	}
	// Read the answers' wire bytes too: Go's decoder gives nil for a
	// present empty bytes field, so presence shows only on the wire.
	creq, err := proto.Marshal(&pb.ConsumeRequest{Topic: "ne", Start: pb.Start_START_EARLIEST, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{pb.BrokerService_Consume_FullMethodName, pb.BrokerService_ConsumeBatches_FullMethodName} {
		msgs := rawStream(t, b.conn, method, creq)
		var got []wireEntry
		for _, m := range msgs {
			if method == pb.BrokerService_Consume_FullMethodName {
				got = append(got, parseWireEntry(t, m))
				continue
			}
			for len(m) > 0 { // EntryBatch: repeated LogEntry entries = 1
				num, typ, n := protowire.ConsumeTag(m)
				e, l := protowire.ConsumeBytes(m[n:])
				if num != 1 || typ != protowire.BytesType || l < 0 {
					t.Fatalf("bad EntryBatch field %d", num)
				}
				got = append(got, parseWireEntry(t, e))
				m = m[n+l:]
			}
		}
		if len(got) != len(cases) {
			t.Fatalf("%s: %d entries, want %d", method, len(got), len(cases))
		}
		for i, c := range cases {
			e := got[i]
			if e.key != c.key.present || e.value != c.value.present {
				t.Errorf("%s: %s: key present %v, value present %v; want %v, %v", method, c.name, e.key, e.value, c.key.present, c.value.present)
			}
			if c.header != nil && (e.headers != 1 || e.headerValue != c.header.present) {
				t.Errorf("%s: %s: %d headers, value present %v; want 1, %v", method, c.name, e.headers, e.headerValue, c.header.present)
			}
		}
	}
}

// wireEntry is which fields a LogEntry's wire bytes hold.
type wireEntry struct {
	key, value, headerValue bool
	headers                 int
}

func parseWireEntry(t *testing.T, b []byte) wireEntry {
	t.Helper()
	var e wireEntry
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal("bad LogEntry tag")
		}
		l := protowire.ConsumeFieldValue(num, typ, b[n:])
		if l < 0 {
			t.Fatalf("bad LogEntry field %d", num)
		}
		switch num {
		case 2:
			e.key = true
		case 3:
			e.value = true
		case 4:
			e.headers++
			h, _ := protowire.ConsumeBytes(b[n:])
			for len(h) > 0 {
				hn, ht, m := protowire.ConsumeTag(h)
				hl := protowire.ConsumeFieldValue(hn, ht, h[m:])
				if m < 0 || hl < 0 {
					t.Fatal("bad Header")
				}
				if hn == 2 {
					e.headerValue = true
				}
				h = h[m+hl:]
			}
		}
		b = b[n+l:]
	}
	return e
}

// rawStream calls a server-streaming method with req's bytes and returns
// every message's bytes until the stream ends.
func rawStream(t *testing.T, conn *grpc.ClientConn, method string, req []byte) [][]byte {
	t.Helper()
	s, err := conn.NewStream(testContext(t), &grpc.StreamDesc{ServerStreams: true}, method, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	in := rawBytes(req)
	if err := s.SendMsg(&in); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		var m rawBytes
		if err := s.RecvMsg(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}
