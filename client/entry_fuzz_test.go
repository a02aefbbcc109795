package client

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

// FuzzEntries holds the batch walk to proto.Unmarshal: on bytes that the
// generated code accepts it reads the same entries and headers, and on bytes
// it refuses the walk (entries, then every header) ends in ErrMalformed.
// go test -run '^$' -fuzz FuzzEntries ./client/
func FuzzEntries(f *testing.F) {
	f.Add([]byte{})
	f.Add(benchBatch(f, 3))
	f.Add(mustMarshal(f, &pb.EntryBatch{Entries: []*pb.LogEntry{
		{Offset: 1, Key: []byte("k"), Value: []byte("v"), TimestampMs: -1, Headers: []*pb.Header{{Key: "a", Value: []byte("b")}, {}}},
		{},
	}}))
	f.Add(bytesField(varintField(nil, 3, 1), 1, varintField(bytesField(nil, 4, header("h", "v")), 1, 7)))
	f.Add(bytesField(nil, 1, protowire.AppendTag(varintField(protowire.AppendTag(nil, 9, protowire.StartGroupType), 1, 1), 9, protowire.EndGroupType)))
	f.Add(bytesField(nil, 1, bytesField(nil, 4, bytesField(nil, 1, []byte{0xff}))))
	f.Fuzz(func(t *testing.T, in []byte) {
		var want pb.EntryBatch
		wantErr := proto.Unmarshal(in, &want)

		var got []*pb.LogEntry
		var err error
		it := NewEntries(in)
		for it.Next() && err == nil {
			e := it.Entry()
			le := &pb.LogEntry{Offset: e.Offset(), Key: e.Key(), Value: e.Value(), TimestampMs: e.TimestampMs()}
			hs := e.Headers()
			for hs.Next() {
				le.Headers = append(le.Headers, &pb.Header{Key: string(hs.Key()), Value: hs.Value()})
			}
			err = hs.Err()
			if len(le.Headers) != e.NumHeaders() && err == nil {
				t.Fatalf("NumHeaders %d, walked %d", e.NumHeaders(), len(le.Headers))
			}
			if err == nil {
				checkLogEntry(t, "fuzz", e)
			}
			got = append(got, le)
		}
		if err == nil {
			err = it.Err()
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("walk error %v, proto.Unmarshal error %v", err, wantErr)
		}
		if wantErr != nil {
			return
		}
		if len(got) != len(want.Entries) {
			t.Fatalf("walked %d entries, proto.Unmarshal has %d", len(got), len(want.Entries))
		}
		for i, w := range want.Entries {
			g := got[i]
			if g.Offset != w.Offset || g.TimestampMs != w.TimestampMs || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
				t.Fatalf("entry %d: walked %v, proto.Unmarshal %v", i, g, w)
			}
			for k, h := range w.Headers {
				if g.Headers[k].Key != h.Key || !bytes.Equal(g.Headers[k].Value, h.Value) {
					t.Fatalf("entry %d header %d: walked %v, proto.Unmarshal %v", i, k, g.Headers[k], h)
				}
			}
		}
	})
}
