package server

import (
	"bytes"
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

const testNow = 1_700_000_000_000

// sameRequest fails unless got and want decoded to the same request and
// frame bytes.
func sameRequest(t *testing.T, got, want *produceRequest, in []byte) {
	t.Helper()
	if got.topic != want.topic || got.partition != want.partition || got.acks != want.acks ||
		got.largest != want.largest || got.largeAt != want.largeAt {
		t.Fatalf("decoded %q/%d acks %v largest %d@%d, want %q/%d acks %v largest %d@%d (input %x)",
			got.topic, got.partition, got.acks, got.largest, got.largeAt,
			want.topic, want.partition, want.acks, want.largest, want.largeAt, in)
	}
	if got.frame.Len() != want.frame.Len() || !bytes.Equal(got.frame.Bytes(), want.frame.Bytes()) {
		t.Fatalf("frame of %d records %x, want %d records %x (input %x)",
			got.frame.Len(), got.frame.Bytes(), want.frame.Len(), want.frame.Bytes(), in)
	}
}

// viaProto is what the standard decoder gives for b.
func viaProto(b []byte) (*produceRequest, error) {
	var m pb.ProduceRequest
	if err := proto.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	r := &produceRequest{}
	r.fromProto(&m, testNow)
	return r, nil
}

// TestDecodeProduceMatchesProto: the fast decoder encodes exactly the frame
// the standard decoder leads to, or steps aside.
func TestDecodeProduceMatchesProto(t *testing.T) {
	for i, seed := range produceSeeds() {
		b, err := proto.Marshal(seed)
		if err != nil {
			t.Fatal(err)
		}
		got := &produceRequest{}
		if err := got.decodeFast(b, testNow); err != nil {
			t.Fatalf("seed %d: fast decoder refused a plain request: %v", i, err)
		}
		want, err := viaProto(b)
		if err != nil {
			t.Fatal(err)
		}
		sameRequest(t, got, want, b)
	}
	// Unusual encodings go to the standard decoder, which has the last word.
	for _, tt := range []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{"unknown field", []byte{0x28, 0x01}, false},
		{"topic twice", []byte{0x0a, 0x01, 'a', 0x0a, 0x01, 'b'}, false},
		{"invalid utf-8 topic", []byte{0x0a, 0x01, 0xff}, true},
		{"truncated", []byte{0x0a, 0x05, 'a'}, true},
		{"record with unknown field", []byte{0x1a, 0x02, 0x30, 0x01}, false},
		{"value twice", []byte{0x1a, 0x06, 0x12, 0x01, 'a', 0x12, 0x01, 'b'}, false},
		{"header key not utf-8", []byte{0x1a, 0x05, 0x1a, 0x03, 0x0a, 0x01, 0xfe}, true},
	} {
		if err := (&produceRequest{}).decodeFast(tt.in, testNow); err != errSlowPath {
			t.Errorf("%s: fast decoder err = %v, want errSlowPath", tt.name, err)
		}
		got := &produceRequest{}
		err := got.decode(tt.in, testNow)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: decode err = %v, want error %v", tt.name, err, tt.wantErr)
		}
		if err == nil {
			want, _ := viaProto(tt.in)
			sameRequest(t, got, want, tt.in)
		}
	}
}

// FuzzDecodeProduce: whatever the bytes, decoding never panics, fails
// exactly when proto.Unmarshal does, and stores what it would lead to.
func FuzzDecodeProduce(f *testing.F) {
	for _, s := range produceSeeds() {
		b, _ := proto.Marshal(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := &produceRequest{}
		err := got.decode(b, testNow)
		want, werr := viaProto(b)
		if (err != nil) != (werr != nil) {
			t.Fatalf("decode err %v, proto err %v, input %x", err, werr, b)
		}
		if err == nil {
			sameRequest(t, got, want, b)
		}
	})
}

func BenchmarkDecodeProduce(b *testing.B) {
	req := &pb.ProduceRequest{Topic: "bench", Records: make([]*pb.Record, 1000)}
	for i := range req.Records {
		req.Records[i] = &pb.Record{Value: make([]byte, 100)}
	}
	buf, _ := proto.Marshal(req)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := &produceRequest{}
			if err := r.decode(buf, testNow); err != nil {
				b.Fatal(err)
			}
			r.release()
		}
	})
	b.Run("proto", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, err := viaProto(buf)
			if err != nil {
				b.Fatal(err)
			}
			r.release()
		}
	})
}
