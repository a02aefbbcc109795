package kafka

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseRequest: any frame body parses or is refused, never panics; a
// request that parses carries a key and version the table serves, and
// kmsg encodes it again.
func FuzzParseRequest(f *testing.F) {
	seed := func(req kmsg.Request, corr int32) {
		frame := formatter.AppendRequest(nil, req, corr)
		f.Add(frame[4:])
	}
	for _, v := range versions {
		req := kmsg.RequestForKey(v.key)
		for ver := v.min; ver <= v.max; ver++ {
			req.SetVersion(ver)
			seed(req, int32(ver))
		}
	}
	seed(produceReq(9, 1, "t", 0, testBatch(3, []byte("v"))), 1)
	seed(fetchReq(1<<20, fetchPartition(0, 5, 1<<20)), 2)
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		h, req, err := parseRequest(body)
		if err != nil {
			return
		}
		v, ok := lookupVersion(h.key)
		if !ok {
			t.Fatalf("parsed key %d, not served", h.key)
		}
		if req == nil {
			if h.key != apiVersionsKey || h.version >= v.min && h.version <= v.max {
				t.Fatalf("nil request for key %d v%d", h.key, h.version)
			}
			return
		}
		if req.Key() != h.key || req.GetVersion() != h.version || h.version < v.min || h.version > v.max {
			t.Fatalf("request %T v%d for header key %d v%d", req, req.GetVersion(), h.key, h.version)
		}
		_ = req.AppendTo(nil)
		if binary.BigEndian.Uint16(body) != uint16(h.key) {
			t.Fatalf("key %d, body starts %x", h.key, body[:2])
		}
	})
}
