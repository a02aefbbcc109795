package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

// TestFaultMalformedInput sends every RPC empty, oversized, out-of-range and
// garbage fields, raw garbage protobuf bytes (through a codec that sends
// bytes as they are), and raw garbage to the TCP port. Every case must get
// its code (API.md; undecodable bytes get gRPC's INTERNAL), the broker must
// log no panic and keep serving, and the stored data must be unchanged,
// byte for byte on disk and as read back, also after a restart.
func TestFaultMalformedInput(t *testing.T) {
	const maxRecord, maxParts = 1024, 8
	b := StartProcBroker(t, ProcOptions{Args: []string{
		fmt.Sprintf("--max-record-bytes=%d", maxRecord), fmt.Sprintf("--max-partitions=%d", maxParts)}})
	c := b.Client()
	ctx := faultCtx(t, 5*time.Minute)
	if _, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: "keep", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	for p := range uint32(2) {
		for i := range 3 {
			if _, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "keep", Partition: p, Records: []*pb.Record{{Key: []byte("k"), Value: []byte(fmt.Sprintf("v%d-%d", p, i))}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	keepFiles := func() map[string]string {
		d := dirDigest(t, b.DataDir, ".log")
		for k := range d {
			if !strings.HasPrefix(k, "keep-") {
				delete(d, k)
			}
		}
		return d
	}
	readKeep := func() [][]byte {
		var out [][]byte
		for p := range uint32(2) {
			es, err := readAllEntries(faultCtx(t, time.Minute), b.Client(), "keep", p, 0)
			if err != nil {
				t.Fatalf("read keep/%d: %v", p, err)
			}
			for _, e := range es {
				out = append(out, entryBytes(t, e))
			}
		}
		return out
	}
	filesBefore, entriesBefore := keepFiles(), readKeep()

	cases := malformedCases(maxRecord, maxParts)
	for _, tt := range cases {
		if tt.bug != "" {
			t.Run(tt.name, func(t *testing.T) {
				t.Skip(tt.bug)
				err := tt.call(faultCtx(t, 30*time.Second), c)
				wantStatus(t, tt.name, err, tt.want)
			})
			continue
		}
		err := tt.call(faultCtx(t, 30*time.Second), c)
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: got %v (%v), want %v", tt.name, got, err, tt.want)
		}
	}
	raw := rawGarbageCases()
	methods := brokerMethods()
	rawN := 0
	for _, m := range methods {
		for _, g := range raw {
			want := codes.Internal // gRPC's code for a request it cannot decode
			decodable := proto.Unmarshal(g.data, m.req()) == nil
			err := m.invoke(faultCtx(t, 10*time.Second), b.Conn(), g.data)
			got := status.Code(err)
			rawN++
			switch {
			case !decodable && got != want:
				t.Errorf("raw %s to %s: got %v (%v), want %v", g.name, m.name, got, err, want)
			case decodable && (got == codes.Internal || got == codes.Unknown || got == codes.DeadlineExceeded):
				t.Errorf("raw %s to %s (decodes as a request): got %v (%v), want the request's own error code", g.name, m.name, got, err)
			}
		}
	}
	tcpN := sendTCPGarbage(t, b)

	if diff := diffDigests(filesBefore, keepFiles()); diff != "" {
		t.Errorf("stored files changed by bad input: %s", diff)
	}
	if after := readKeep(); !reflect.DeepEqual(after, entriesBefore) {
		t.Errorf("stored records changed by bad input")
	}
	if e := b.Terminate(time.Minute); e.Code != 0 {
		t.Fatalf("SIGTERM after the sweep: %v", e)
	}
	if ps := b.Panics(); len(ps) > 0 {
		t.Errorf("broker log mentions a panic: %s", ps[0])
	}
	info := b.Start()
	if after := readKeep(); !reflect.DeepEqual(after, entriesBefore) || !info.Clean {
		t.Errorf("after restart: records equal %v, clean %v", reflect.DeepEqual(after, entriesBefore), info.Clean)
	}
	t.Logf("FIGURE malformed input: %d typed cases, %d raw-protobuf cases over %d RPCs, %d raw TCP cases: every code as wanted, 0 panics, stored data unchanged",
		len(cases), rawN, len(methods), tcpN)
}

type malformedCase struct {
	name string
	call func(context.Context, pb.BrokerServiceClient) error
	want codes.Code
	bug  string // a known broker bug: the case runs skipped, with this reason
}

// malformedCases are typed requests with bad fields. The topic "keep" has 2
// partitions and 3 records in each.
func malformedCases(maxRecord, maxParts int) []malformedCase {
	const ok, inv, nf, oor = codes.OK, codes.InvalidArgument, codes.NotFound, codes.OutOfRange
	long := strings.Repeat("a", 250)
	var cs []malformedCase
	add := func(name string, want codes.Code, call func(context.Context, pb.BrokerServiceClient) error) {
		cs = append(cs, malformedCase{name: name, call: call, want: want})
	}
	badNames := []string{"", long, ".", "..", "a/b", "../x", "a b", "tópico", "a\x00b", "a\nb", "*"}

	// CreateTopic
	for _, n := range badNames {
		add(fmt.Sprintf("CreateTopic name %.20q", n), inv, createTopic(n, 1))
	}
	for _, n := range []uint32{0, uint32(maxParts) + 1, math.MaxUint32} {
		add(fmt.Sprintf("CreateTopic %d partitions", n), inv, createTopic("new", n))
	}
	add("CreateTopic existing", codes.AlreadyExists, createTopic("keep", 1))
	add("CreateTopic 249-char name", ok, createTopic(strings.Repeat("b", 249), 1))

	// Produce, and the same requests as messages of a ProduceStream
	rec := []*pb.Record{{Value: []byte("x")}}
	for _, kind := range []string{"Produce", "ProduceStream"} {
		produce := func(r *pb.ProduceRequest) func(context.Context, pb.BrokerServiceClient) error {
			if kind == "ProduceStream" {
				return func(ctx context.Context, c pb.BrokerServiceClient) error { return produceStreamOnce(ctx, c, r) }
			}
			return func(ctx context.Context, c pb.BrokerServiceClient) error { _, err := c.Produce(ctx, r); return err }
		}
		for _, n := range badNames {
			add(fmt.Sprintf("%s topic %.20q", kind, n), inv, produce(&pb.ProduceRequest{Topic: n, Records: rec}))
		}
		add(kind+" unknown topic", nf, produce(&pb.ProduceRequest{Topic: "nope", Records: rec}))
		add(kind+" partition 2 of 2", nf, produce(&pb.ProduceRequest{Topic: "keep", Partition: 2, Records: rec}))
		add(kind+" partition max", nf, produce(&pb.ProduceRequest{Topic: "keep", Partition: math.MaxUint32, Records: rec}))
		add(kind+" no records", inv, produce(&pb.ProduceRequest{Topic: "keep"}))
		add(kind+" empty records list", inv, produce(&pb.ProduceRequest{Topic: "keep", Records: []*pb.Record{}}))
		big := bytes.Repeat([]byte("v"), maxRecord+1)
		add(kind+" value over the max", inv, produce(&pb.ProduceRequest{Topic: "keep", Records: []*pb.Record{{Value: big}}}))
		add(kind+" key over the max", inv, produce(&pb.ProduceRequest{Topic: "keep", Records: []*pb.Record{{Key: big}}}))
		add(kind+" key+value over the max", inv, produce(&pb.ProduceRequest{Topic: "keep", Records: []*pb.Record{{Key: big[:600], Value: big[:600]}}}))
		add(kind+" headers over the max", inv, produce(&pb.ProduceRequest{Topic: "keep", Records: []*pb.Record{{Headers: []*pb.Header{{Key: "a", Value: big[:600]}, {Key: "b", Value: big[:600]}}}}}))
		add(kind+" one bad record among good", inv, produce(&pb.ProduceRequest{Topic: "keep", Records: []*pb.Record{{Value: []byte("ok")}, {Value: big}}}))
		many := make([]*pb.Record, 6000)
		for i := range many {
			many[i] = &pb.Record{Value: big[:maxRecord-8]}
		}
		add(kind+" request over the broker's max message size", codes.ResourceExhausted, produce(&pb.ProduceRequest{Topic: "keep", Records: many}))
		for _, a := range []pb.Acks{pb.Acks_ACKS_ALL, 4, 99, -1, math.MaxInt32} {
			add(fmt.Sprintf("%s acks %d", kind, a), inv, produce(&pb.ProduceRequest{Topic: "keep", Records: rec, Acks: a}))
		}
		add(kind+" unknown topic, bad acks", inv, produce(&pb.ProduceRequest{Topic: "nope", Records: rec, Acks: 99}))
	}

	// Consume and ConsumeBatches
	for _, kind := range []string{"Consume", "ConsumeBatches"} {
		consume := func(r *pb.ConsumeRequest) func(context.Context, pb.BrokerServiceClient) error {
			return func(ctx context.Context, c pb.BrokerServiceClient) error { return drain(ctx, c, kind, r) }
		}
		for _, n := range badNames {
			add(fmt.Sprintf("%s topic %.20q", kind, n), inv, consume(&pb.ConsumeRequest{Topic: n, StopAtEnd: true}))
		}
		add(kind+" unknown topic", nf, consume(&pb.ConsumeRequest{Topic: "nope", StopAtEnd: true}))
		add(kind+" partition 2 of 2", nf, consume(&pb.ConsumeRequest{Topic: "keep", Partition: 2, StopAtEnd: true}))
		add(kind+" partition max", nf, consume(&pb.ConsumeRequest{Topic: "keep", Partition: math.MaxUint32, StopAtEnd: true}))
		add(kind+" offset at the end (caught up)", ok, consume(&pb.ConsumeRequest{Topic: "keep", Offset: 3, StopAtEnd: true}))
		add(kind+" offset past the end", oor, consume(&pb.ConsumeRequest{Topic: "keep", Offset: 4, StopAtEnd: true}))
		add(kind+" offset max", oor, consume(&pb.ConsumeRequest{Topic: "keep", Offset: math.MaxUint64, StopAtEnd: true}))
		add(kind+" offset past the end, following", oor, consume(&pb.ConsumeRequest{Topic: "keep", Offset: 1 << 40}))
		for _, s := range []pb.Start{4, 99, -1} {
			add(fmt.Sprintf("%s start %d", kind, s), inv, consume(&pb.ConsumeRequest{Topic: "keep", Start: s, StopAtEnd: true}))
		}
		add(kind+" START_COMMITTED without a group", inv, consume(&pb.ConsumeRequest{Topic: "keep", Start: pb.Start_START_COMMITTED, StopAtEnd: true}))
		add(kind+" START_COMMITTED bad group name", inv, consume(&pb.ConsumeRequest{Topic: "keep", Start: pb.Start_START_COMMITTED, Group: "a/b", StopAtEnd: true}))
		for _, mb := range []uint32{1, 7, math.MaxUint32} {
			add(fmt.Sprintf("%s max_bytes %d", kind, mb), ok, consume(&pb.ConsumeRequest{Topic: "keep", MaxBytes: mb, StopAtEnd: true}))
		}
	}

	// DeleteTopic, GetOffsets
	for _, n := range badNames {
		add(fmt.Sprintf("DeleteTopic %.20q", n), inv, func(ctx context.Context, c pb.BrokerServiceClient) error {
			_, err := c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: n})
			return err
		})
		add(fmt.Sprintf("GetOffsets %.20q", n), inv, func(ctx context.Context, c pb.BrokerServiceClient) error {
			_, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: n})
			return err
		})
	}
	add("DeleteTopic unknown", nf, func(ctx context.Context, c pb.BrokerServiceClient) error {
		_, err := c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: "nope"})
		return err
	})
	add("GetOffsets unknown", nf, func(ctx context.Context, c pb.BrokerServiceClient) error {
		_, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: "nope"})
		return err
	})
	add("ListTopics", ok, func(ctx context.Context, c pb.BrokerServiceClient) error {
		_, err := c.ListTopics(ctx, &pb.ListTopicsRequest{})
		return err
	})

	// Consumer groups
	commit := func(r *pb.CommitOffsetsRequest) func(context.Context, pb.BrokerServiceClient) error {
		return func(ctx context.Context, c pb.BrokerServiceClient) error {
			_, err := c.CommitOffsets(ctx, r)
			return err
		}
	}
	fetch := func(r *pb.FetchOffsetsRequest) func(context.Context, pb.BrokerServiceClient) error {
		return func(ctx context.Context, c pb.BrokerServiceClient) error {
			_, err := c.FetchOffsets(ctx, r)
			return err
		}
	}
	join := func(r *pb.JoinGroupRequest) func(context.Context, pb.BrokerServiceClient) error {
		return func(ctx context.Context, c pb.BrokerServiceClient) error {
			s, err := c.JoinGroup(ctx, r)
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}
	}
	for _, n := range badNames {
		add(fmt.Sprintf("JoinGroup group %.20q", n), inv, join(&pb.JoinGroupRequest{Group: n, Topic: "keep"}))
		add(fmt.Sprintf("JoinGroup topic %.20q", n), inv, join(&pb.JoinGroupRequest{Group: "g", Topic: n}))
		add(fmt.Sprintf("CommitOffsets group %.20q", n), inv, commit(&pb.CommitOffsetsRequest{Group: n, Topic: "keep"}))
		add(fmt.Sprintf("FetchOffsets group %.20q", n), inv, fetch(&pb.FetchOffsetsRequest{Group: n, Topic: "keep"}))
	}
	for _, n := range []string{"a/b", long, ".."} {
		add(fmt.Sprintf("JoinGroup member id %.20q", n), inv, join(&pb.JoinGroupRequest{Group: "g", Topic: "keep", MemberId: n}))
	}
	add("JoinGroup unknown topic", nf, join(&pb.JoinGroupRequest{Group: "g", Topic: "nope"}))
	add("CommitOffsets unknown topic", nf, commit(&pb.CommitOffsetsRequest{Group: "g", Topic: "nope", Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 1}}}))
	add("CommitOffsets partition 2 of 2", nf, commit(&pb.CommitOffsetsRequest{Group: "g", Topic: "keep", Offsets: []*pb.PartitionOffset{{Partition: 2, Offset: 1}}}))
	add("CommitOffsets partition max", nf, commit(&pb.CommitOffsetsRequest{Group: "g", Topic: "keep", Offsets: []*pb.PartitionOffset{{Partition: math.MaxUint32}}}))
	add("CommitOffsets stale generation", codes.FailedPrecondition, commit(&pb.CommitOffsetsRequest{Group: "g2", Topic: "keep", Generation: 99, Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 1}}}))
	add("FetchOffsets unknown topic", nf, fetch(&pb.FetchOffsetsRequest{Group: "g", Topic: "nope"}))
	add("ListGroups", ok, func(ctx context.Context, c pb.BrokerServiceClient) error {
		_, err := c.ListGroups(ctx, &pb.ListGroupsRequest{})
		return err
	})
	return cs
}

func createTopic(name string, n uint32) func(context.Context, pb.BrokerServiceClient) error {
	return func(ctx context.Context, c pb.BrokerServiceClient) error {
		_, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: name, Partitions: n})
		return err
	}
}

// drain reads a Consume or ConsumeBatches stream to its end.
func drain(ctx context.Context, c pb.BrokerServiceClient, kind string, r *pb.ConsumeRequest) error {
	var recv func() error
	if kind == "Consume" {
		s, err := c.Consume(ctx, r)
		if err != nil {
			return err
		}
		recv = func() error { _, err := s.Recv(); return err }
	} else {
		s, err := c.ConsumeBatches(ctx, r)
		if err != nil {
			return err
		}
		recv = func() error { _, err := s.Recv(); return err }
	}
	for {
		if err := recv(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// --- raw protobuf bytes ---

// rawBytes is a message sent and received as its bytes.
type rawBytes []byte

// rawCodec sends rawBytes untouched. Its name is "proto" so the request's
// content type is the ordinary one.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*rawBytes), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*rawBytes) = append(rawBytes(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

type garbage struct {
	name string
	data []byte
}

func rawGarbageCases() []garbage {
	gs := []garbage{
		{"0xff x16", bytes.Repeat([]byte{0xff}, 16)},
		{"varint over 10 bytes", append([]byte{0x08}, bytes.Repeat([]byte{0x80}, 11)...)},
		{"truncated length", []byte{0x0a, 0x80}},
		{"length past the end", []byte{0x0a, 0x7f, 'a'}},
		{"length 2^32", []byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x10, 'a'}},
		{"field number 0", []byte{0x02, 0x01, 'a'}},
		{"invalid utf-8 in field 1", []byte{0x0a, 0x02, 0xff, 0xfe}},
		{"unterminated group", []byte{0x0b, 0x08, 0x01}},
		{"end group alone", []byte{0x0c}},
		{"wire type 7", []byte{0x0f, 0x01}},
		{"nested record garbage", []byte{0x0a, 0x04, 'z', 'z', 'z', 'z', 0x1a, 0x03, 0x12, 0x7f, 0x00}},
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{1, 7, 100, 1000, 100000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		gs = append(gs, garbage{fmt.Sprintf("%d random bytes", n), b})
	}
	return gs
}

type brokerMethod struct {
	name   string
	stream bool
	req    func() proto.Message
}

func brokerMethods() []brokerMethod {
	const svc = "/logbroker.v1.BrokerService/"
	return []brokerMethod{
		{svc + "Produce", false, func() proto.Message { return &pb.ProduceRequest{} }},
		{svc + "Consume", true, func() proto.Message { return &pb.ConsumeRequest{} }},
		{svc + "ConsumeBatches", true, func() proto.Message { return &pb.ConsumeRequest{} }},
		{svc + "CreateTopic", false, func() proto.Message { return &pb.CreateTopicRequest{} }},
		{svc + "ListTopics", false, func() proto.Message { return &pb.ListTopicsRequest{} }},
		{svc + "DeleteTopic", false, func() proto.Message { return &pb.DeleteTopicRequest{} }},
		{svc + "GetOffsets", false, func() proto.Message { return &pb.GetOffsetsRequest{} }},
		{svc + "JoinGroup", true, func() proto.Message { return &pb.JoinGroupRequest{} }},
		{svc + "CommitOffsets", false, func() proto.Message { return &pb.CommitOffsetsRequest{} }},
		{svc + "FetchOffsets", false, func() proto.Message { return &pb.FetchOffsetsRequest{} }},
		{svc + "ListGroups", false, func() proto.Message { return &pb.ListGroupsRequest{} }},
		{svc + "ProduceStream", true, func() proto.Message { return &pb.ProduceRequest{} }},
	}
}

// produceStreamOnce sends r as the only message of a ProduceStream and
// returns how the stream answered it: nil for a response, else its status.
func produceStreamOnce(ctx context.Context, c pb.BrokerServiceClient, r *pb.ProduceRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.ProduceStream(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(r); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

// invoke sends data as the method's request and returns the call's status
// (a stream is read until it ends; nil for a clean end or a first message).
func (m brokerMethod) invoke(ctx context.Context, conn *grpc.ClientConn, data []byte) error {
	in, out := rawBytes(data), rawBytes(nil)
	if !m.stream {
		return conn.Invoke(ctx, m.name, &in, &out, grpc.ForceCodec(rawCodec{}))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.name, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	if err := s.SendMsg(&in); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	// A request that decodes to a valid live read or a join waits for more:
	// its first message is an answer.
	if err := s.RecvMsg(&out); errors.Is(err, io.EOF) {
		return nil
	} else {
		return err
	}
}

// --- raw TCP ---

// sendTCPGarbage writes bytes that are no gRPC to the broker's port; the
// broker must close each connection and stay SERVING.
func sendTCPGarbage(t *testing.T, b *ProcBroker) int {
	t.Helper()
	preface := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	frame := func(length int, typ, flags byte, stream uint32, payload []byte) []byte {
		f := []byte{byte(length >> 16), byte(length >> 8), byte(length), typ, flags,
			byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
		return append(f, payload...)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	cases := []garbage{
		{"random bytes", random},
		{"HTTP/1.1 request", []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")},
		{"TLS client hello", append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, random[:512]...)},
		{"1 MiB of zeros", make([]byte, 1<<20)},
		{"bad preface", []byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + "more")},
		{"preface, oversized frame", append(append([]byte{}, preface...), frame(0xffffff, 0, 0, 1, random[:100])...)},
		{"preface, SETTINGS of 5 bytes", append(append([]byte{}, preface...), frame(5, 4, 0, 0, []byte{0, 1, 0, 0, 0})...)},
		{"preface, settings, garbage HEADERS", append(append(append([]byte{}, preface...), frame(0, 4, 0, 0, nil)...), frame(64, 1, 4, 1, random[:64])...)},
		{"preface, DATA on stream 0", append(append(append([]byte{}, preface...), frame(0, 4, 0, 0, nil)...), frame(8, 0, 0, 0, random[:8])...)},
		{"preface, WINDOW_UPDATE overflow", append(append(append([]byte{}, preface...), frame(0, 4, 0, 0, nil)...),
			append(frame(4, 8, 0, 0, []byte{0x7f, 0xff, 0xff, 0xff}), frame(4, 8, 0, 0, []byte{0x7f, 0xff, 0xff, 0xff})...)...)},
	}
	for _, g := range cases {
		conn, err := net.DialTimeout("tcp", b.Addr(), 10*time.Second)
		if err != nil {
			t.Fatalf("raw TCP %s: dial: %v", g.name, err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		_, werr := conn.Write(g.data)
		conn.(*net.TCPConn).CloseWrite()
		// The broker ends the connection: EOF or a reset, never a hang.
		_, rerr := io.Copy(io.Discard, conn)
		conn.Close()
		if rerr != nil && !errors.Is(rerr, syscall.ECONNRESET) && !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				t.Errorf("raw TCP %s: broker kept the connection open for 30 s", g.name)
			} else if !errors.Is(rerr, os.ErrDeadlineExceeded) {
				t.Errorf("raw TCP %s: read: %v (write: %v)", g.name, rerr, werr)
			}
		}
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := healthpb.NewHealthClient(b.Conn()).Check(hctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("raw TCP %s: broker not SERVING after it: %v %v", g.name, resp, err)
		}
	}
	return len(cases)
}
