package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

func produceSeeds() []*pb.ProduceRequest {
	return []*pb.ProduceRequest{
		{},
		{Topic: "t"},
		{Topic: "orders", Partition: 7, Acks: pb.Acks_ACKS_NONE, Records: []*pb.Record{{Value: []byte("v")}}},
		{Topic: "x", Partition: 1<<32 - 1, Acks: pb.Acks_ACKS_ALL, Records: []*pb.Record{{Key: []byte{}, Value: []byte{}}}},
		{Topic: "h", Records: []*pb.Record{
			{Key: []byte("k"), Value: []byte("value"), TimestampMs: -5, Headers: []*pb.Header{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}}},
			{Value: make([]byte, 300), TimestampMs: 1 << 40},
			{},
		}},
	}
}

// TestUnmarshalProduceMatchesProto: the fast decoder gives exactly what the
// standard one does, or steps aside.
func TestUnmarshalProduceMatchesProto(t *testing.T) {
	for i, want := range produceSeeds() {
		b, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := &pb.ProduceRequest{}
		if err := unmarshalProduce(b, got); err != nil {
			t.Fatalf("seed %d: fast decoder refused a plain request: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("seed %d: got %v, want %v", i, got, want)
		}
	}
	// Unusual encodings go to the standard decoder.
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"unknown field", []byte{0x28, 0x01}},
		{"topic twice", []byte{0x0a, 0x01, 'a', 0x0a, 0x01, 'b'}},
		{"invalid utf-8 topic", []byte{0x0a, 0x01, 0xff}},
		{"truncated", []byte{0x0a, 0x05, 'a'}},
		{"record with unknown field", []byte{0x1a, 0x02, 0x30, 0x01}},
		{"header key not utf-8", []byte{0x1a, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0xfe}},
	} {
		if err := unmarshalProduce(tt.in, &pb.ProduceRequest{}); err != errSlowPath {
			t.Errorf("%s: err = %v, want errSlowPath", tt.name, err)
		}
	}
}

// FuzzUnmarshalProduce: whatever the bytes, the fast decoder never panics,
// and what it accepts the standard decoder accepts with the same result.
func FuzzUnmarshalProduce(f *testing.F) {
	for _, s := range produceSeeds() {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := &pb.ProduceRequest{}
		if err := unmarshalProduce(b, got); err != nil {
			return
		}
		want := &pb.ProduceRequest{}
		if err := proto.Unmarshal(b, want); err != nil {
			t.Fatalf("fast decoder accepted what proto refuses (%v): %x", err, b)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("fast %v != proto %v for %x", got, want, b)
		}
	})
}

func BenchmarkUnmarshalProduce(b *testing.B) {
	req := &pb.ProduceRequest{Topic: "bench", Records: make([]*pb.Record, 1000)}
	for i := range req.Records {
		req.Records[i] = &pb.Record{Value: make([]byte, 100)}
	}
	buf, _ := proto.Marshal(req)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := unmarshalProduce(buf, &pb.ProduceRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := proto.Unmarshal(buf, &pb.ProduceRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
