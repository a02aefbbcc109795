package main

import (
	"slices"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

func TestProduceTemplate(t *testing.T) {
	tests := []struct {
		name      string
		topic     string
		partition uint32
		size      int
		acks      pb.Acks
	}{
		{"partition 0, acks leader", "lb-bench-latency", 0, 100, pb.Acks_ACKS_LEADER},
		{"partition 3, acks none", "t", 3, 24, pb.Acks_ACKS_NONE},
		{"two-byte partition and length, acks unset", "a.b-c_d", 300, 1000, pb.Acks_ACKS_UNSPECIFIED},
		{"long topic", string(make([]byte, 249)), 1023, 200, pb.Acks_ACKS_LEADER},
	}
	for _, tt := range tests {
		value := payload(tt.size)
		tmpl := newProduceTemplate(tt.topic, tt.partition, value, tt.acks)
		st := latencyStamp{due: 1234567, seq: 89, sent: 1234999}
		w := &wireRequest{}
		tmpl.fill(w, st)
		got := &pb.ProduceRequest{}
		if err := proto.Unmarshal(w.buf, got); err != nil {
			t.Errorf("%s: the request does not decode: %v", tt.name, err)
			continue
		}
		wantValue := slices.Clone(value)
		st.put(wantValue)
		want := &pb.ProduceRequest{Topic: tt.topic, Partition: tt.partition, Acks: tt.acks, Records: []*pb.Record{{Value: wantValue}}}
		if !proto.Equal(got, want) {
			t.Errorf("%s: decoded %v, want %v", tt.name, got, want)
		}
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
		if err != nil || !slices.Equal(enc, []byte(w.buf)) {
			t.Errorf("%s: bytes differ from proto's encoding", tt.name)
		}
		if !slices.Equal(tmpl.bytes[tmpl.stampAt+latencyStampBytes:], w.buf[tmpl.stampAt+latencyStampBytes:]) {
			t.Errorf("%s: the stamp spilled past its 24 bytes", tt.name)
		}
		// A request filled again holds the new stamp and nothing else new;
		// another request's bytes are its own.
		w2 := &wireRequest{}
		tmpl.fill(w2, latencyStamp{seq: 91})
		tmpl.fill(w, latencyStamp{seq: 90})
		if got, _ := readStamp(w.buf[tmpl.stampAt:]); got.seq != 90 || len(w.buf) != len(tmpl.bytes) {
			t.Errorf("%s: refilled request stamped %+v, %d bytes; want seq 90, %d bytes", tt.name, got, len(w.buf), len(tmpl.bytes))
		}
		if got, _ := readStamp(w2.buf[tmpl.stampAt:]); got.seq != 91 {
			t.Errorf("%s: another request stamped %+v, want seq 91", tt.name, got)
		}
	}
}

func TestWireCodec(t *testing.T) {
	c := wireCodec{}
	if c.Name() != "proto" {
		t.Errorf("Name %q, want proto (the content type the broker expects)", c.Name())
	}
	tmpl := newProduceTemplate("t", 0, payload(30), pb.Acks_ACKS_LEADER)
	w := &wireRequest{}
	tmpl.fill(w, latencyStamp{seq: 1})
	if data, err := c.Marshal(w); err != nil || !slices.Equal(data.Materialize(), []byte(w.buf)) {
		t.Errorf("a wire request marshals to %v, %v; want its own bytes", data, err)
	}
	if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer{0x08, 0x01}}, &ackSink{}); err != nil {
		t.Errorf("ackSink: %v", err)
	}
	if _, err := c.Marshal(&pb.ProduceRequest{}); err == nil {
		t.Error("Marshal of a proto message succeeded, want an error (requests are pre-encoded)")
	}
	if err := c.Unmarshal(nil, &pb.ProduceResponse{}); err == nil {
		t.Error("Unmarshal into a proto message succeeded, want an error")
	}
}
