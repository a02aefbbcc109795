package kafka

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/batch"
)

// rawConn is a client connection that writes kmsg-built requests, or any
// bytes, and reads responses, for the framing and handler tests.
type rawConn struct {
	t  testing.TB
	nc net.Conn
}

func (b *testBroker) dial() *rawConn {
	b.t.Helper()
	nc, err := net.Dial("tcp", b.addr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testWait))
	return &rawConn{t: b.t, nc: nc}
}

var formatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw-test"))

func (r *rawConn) send(corr int32, req kmsg.Request) {
	r.t.Helper()
	r.write(formatter.AppendRequest(nil, req, corr))
}

// write sends bytes as they are; a broker that already closed the
// connection may refuse them, which the caller learns from closed.
func (r *rawConn) write(b []byte) { _, _ = r.nc.Write(b) }

// recv reads one response into resp (its version set by the caller) and
// returns its correlation id.
func (r *rawConn) recv(resp kmsg.Response) int32 {
	r.t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r.nc, size[:]); err != nil {
		r.t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.nc, body); err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	corr := int32(binary.BigEndian.Uint32(body))
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		if len(body) == 0 || body[0] != 0 {
			r.t.Fatalf("response header tags %x, want one empty tag section", body[:min(1, len(body))])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %T v%d: %v", resp, resp.GetVersion(), err)
	}
	return corr
}

// roundTrip sends req and reads its response.
func (r *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.send(7, req)
	resp := req.ResponseKind()
	if corr := r.recv(resp); corr != 7 {
		r.t.Fatalf("correlation id %d, want 7", corr)
	}
	return resp
}

// closed reports whether the broker closed the connection without writing.
func (r *rawConn) closed() bool {
	var b [1]byte
	n, err := r.nc.Read(b[:])
	return n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err))
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// testBatch is one uncompressed RecordBatch v2 of n records.
func testBatch(n int, value []byte) []byte {
	var bb batch.Builder
	bb.Reset(nil)
	for i := range n {
		bb.Add([]byte{byte(i)}, value, nil, 1_700_000_000_000+int64(i))
	}
	return bb.Finish()
}

func produceReq(version int16, acks int16, topic string, p int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, acks, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func TestApiVersions(t *testing.T) {
	b := startBroker(t)
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = v, "raw", "1.0"
		resp := b.dial().roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != len(versions) {
			t.Fatalf("v%d: error %d, %d keys; want 0 and %d", v, resp.ErrorCode, len(resp.ApiKeys), len(versions))
		}
		for i, k := range resp.ApiKeys {
			if w := versions[i]; k.ApiKey != w.key || k.MinVersion != w.min || k.MaxVersion != w.max {
				t.Errorf("v%d key %d = %+v, want %+v", v, i, k, w)
			}
		}
	}
	// A version from the future: its body is unknown, so it is not read.
	c := b.dial()
	frame := binary.BigEndian.AppendUint32(nil, 0)
	frame = binary.BigEndian.AppendUint16(frame, uint16(apiVersionsKey))
	frame = binary.BigEndian.AppendUint16(frame, 99)
	frame = binary.BigEndian.AppendUint32(frame, 42)
	frame = append(frame, 0xff, 0xff, 0xde, 0xad) // null client id, then anything
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	c.write(frame)
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if corr := c.recv(resp); corr != 42 || resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != len(versions) {
		t.Errorf("v99: correlation %d, error %d, %d keys; want 42, UNSUPPORTED_VERSION, %d", corr, resp.ErrorCode, len(resp.ApiKeys), len(versions))
	}
	// The connection stays usable, as with Kafka.
	req := kmsg.NewPtrApiVersionsRequest()
	if r := c.roundTrip(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Errorf("after v99: error %d", r.ErrorCode)
	}
	// Software names Kafka refuses.
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "-bad", "1"
	if r := b.dial().roundTrip(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("bad software name: error %d, want INVALID_REQUEST", r.ErrorCode)
	}
}

// TestMalformedFrames: each bad frame closes its connection only; the
// broker serves the next one and the stored data is unchanged.
func TestMalformedFrames(t *testing.T) {
	b := startBroker(t)
	b.createTopic("keep", 1)
	ctx := testContext(t)
	p, _ := b.reg.Partition("keep", 0)
	if _, _, err := p.AppendBatch(ctx, testBatch(3, []byte("v"))); err != nil {
		t.Fatal(err)
	}
	before, _ := p.Read(ctx, 0, 0)

	frame := func(key, version int16, body ...byte) []byte {
		f := binary.BigEndian.AppendUint32(nil, uint32(2+2+4+2+len(body)))
		f = binary.BigEndian.AppendUint16(f, uint16(key))
		f = binary.BigEndian.AppendUint16(f, uint16(version))
		f = binary.BigEndian.AppendUint32(f, 1)
		f = append(f, 0xff, 0xff) // null client id
		return append(f, body...)
	}
	size := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	garbage := bytes.Repeat([]byte{0xfe}, 64)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"size below a header", append(size(3), 1, 2, 3)},
		{"size zero", size(0)},
		{"negative size", size(0xffffffff)},
		{"size over the limit", size(DefaultMaxRequestBytes + 1)},
		{"metadata over the small limit", append(size(maxOtherRequestBytes+1024), 0, 3)},
		{"header cut short", append(size(10), 0, 3, 0, 1, 0, 0, 0, 1, 0, 5)},
		{"unknown key", frame(999, 0)},
		{"negative key", frame(-1, 0)},
		{"key not served (AddPartitionsToTxn)", frame(24, 0)},
		{"metadata version too new", frame(3, 13)},
		{"fetch version too old", frame(1, 3)},
		{"produce garbage body", frame(0, 9, garbage...)},
		{"fetch garbage body", frame(1, 12, garbage...)},
		{"metadata array longer than the frame", frame(3, 4, 0x7f, 0xff, 0xff, 0xff)},
		{"create topics garbage body", frame(19, 7, garbage...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := b.dial()
			c.write(tt.frame)
			if !c.closed() {
				t.Fatal("connection still open")
			}
			req := kmsg.NewPtrMetadataRequest()
			if r := b.dial().roundTrip(req).(*kmsg.MetadataResponse); len(r.Topics) != 1 {
				t.Fatalf("after the bad frame, metadata lists %d topics", len(r.Topics))
			}
			after, err := p.Read(ctx, 0, 0)
			if err != nil || after.Next != before.Next || !bytes.Equal(after.Data, before.Data) {
				t.Fatalf("stored data changed: next %d → %d, %v", before.Next, after.Next, err)
			}
		})
	}
}

// TestPipelined: requests sent back to back are answered in order, and an
// acks=0 produce among them gets no response.
func TestPipelined(t *testing.T) {
	b := startBroker(t)
	b.createTopic("pipe", 1)
	c := b.dial()
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 4
	// One write of four frames (AppendRequest sizes its frame from the
	// start of dst, so each is made alone).
	out := bytes.Join([][]byte{
		formatter.AppendRequest(nil, md, 10),
		formatter.AppendRequest(nil, produceReq(9, 0, "pipe", 0, testBatch(2, nil)), 11),
		formatter.AppendRequest(nil, av, 12),
		formatter.AppendRequest(nil, produceReq(9, 1, "pipe", 0, testBatch(1, nil)), 13),
	}, nil)
	c.write(out)
	for _, want := range []struct {
		corr int32
		resp kmsg.Response
	}{{10, md.ResponseKind()}, {12, av.ResponseKind()}, {13, produceReq(9, 1, "", 0, nil).ResponseKind()}} {
		if corr := c.recv(want.resp); corr != want.corr {
			t.Fatalf("correlation id %d, want %d", corr, want.corr)
		}
		if r, ok := want.resp.(*kmsg.ProduceResponse); ok {
			// The acks=0 batch went first: this one's offset is 2.
			if sp := r.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.BaseOffset != 2 {
				t.Errorf("produce after acks=0 = %+v, want base offset 2", sp)
			}
		}
	}
}
