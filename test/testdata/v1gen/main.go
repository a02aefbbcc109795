// Command v1gen fills a broker with a fixed set of records over gRPC, then
// reads everything back and prints it as JSON: the fixture of a data
// directory written by an earlier release (test/testdata/make-v1-datadir.sh).
//
// It is built against the module of the release that writes the fixture,
// inside a temporary worktree of that revision: it uses only the generated
// pb package, whose wire has not changed. It lives under testdata so that
// the current module's `go build ./...` and `go vet ./...` leave it alone.
//
// Concurrency: one goroutine; every call waits for its answer.
//
// The records are the same on every run; what the broker chooses (append
// timestamps for records sent with timestamp 0) is read back, not assumed.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/logbroker/logbroker/pb"
)

// baseTs is the first explicit timestamp; record i gets baseTs + i*1000.
const baseTs = 1764900000000

type topicSpec struct {
	name       string
	partitions uint32
}

var topics = []topicSpec{{"orders", 3}, {"a-b-c", 1}}

// Group commit written to the fixture: the next offset to read per partition.
const group = "billing"

var groupOffsets = map[uint32]uint64{0: 37, 1: 5, 2: 0}

func main() {
	addr := flag.String("addr", "", "broker `host:port`")
	readOnly := flag.Bool("read-only", false, "write nothing: only read back what the broker holds")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "v1gen: --addr is required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, *addr, *readOnly, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "v1gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string, readOnly bool, out io.Writer) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := pb.NewBrokerServiceClient(conn)
	if !readOnly {
		if err := write(ctx, c); err != nil {
			return err
		}
	}
	doc, err := readBack(ctx, c)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// write creates the topics, produces the records and commits the group.
func write(ctx context.Context, c pb.BrokerServiceClient) error {
	for _, t := range topics {
		if _, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: t.name, Partitions: t.partitions}); err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
	}
	g := &gen{}
	for _, req := range g.requests() {
		req.Acks = pb.Acks_ACKS_LEADER
		if _, err := c.Produce(ctx, req); err != nil {
			return fmt.Errorf("produce %s-%d: %w", req.Topic, req.Partition, err)
		}
	}
	commit := &pb.CommitOffsetsRequest{Group: group, Topic: "orders"}
	for p := uint32(0); p < 3; p++ {
		commit.Offsets = append(commit.Offsets, &pb.PartitionOffset{Partition: p, Offset: groupOffsets[p]})
	}
	if _, err := c.CommitOffsets(ctx, commit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// gen numbers records so that explicit timestamps are distinct and ordered.
type gen struct{ i int }

// rec makes record number g.i: every third gets timestamp 0 (broker-stamped).
func (g *gen) rec(key, value []byte, hdrs ...*pb.Header) *pb.Record {
	r := &pb.Record{Key: key, Value: value, Headers: hdrs}
	if g.i%3 != 2 {
		r.TimestampMs = baseTs + int64(g.i)*1000
	}
	g.i++
	return r
}

func hdr(k, v string) *pb.Header { return &pb.Header{Key: k, Value: []byte(v)} }

// many makes n plain records, keyed "<prefix>-<j>" when keyed.
func (g *gen) many(prefix string, n int, keyed bool) []*pb.Record {
	rs := make([]*pb.Record, 0, n)
	for j := 0; j < n; j++ {
		var key []byte
		if keyed {
			key = fmt.Appendf(nil, "%s-%d", prefix, j)
		}
		rs = append(rs, g.rec(key, fmt.Appendf(nil, "%s value %04d: the quick brown fox jumps", prefix, j)))
	}
	return rs
}

func binary() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// requests is the fixed sequence of Produce requests, in order.
func (g *gen) requests() []*pb.ProduceRequest {
	req := func(t string, p uint32, rs ...*pb.Record) *pb.ProduceRequest {
		return &pb.ProduceRequest{Topic: t, Partition: p, Records: rs}
	}
	var out []*pb.ProduceRequest
	// orders-0: the odd records first, then enough for several segments.
	out = append(out, req("orders", 0,
		g.rec([]byte("k-plain"), []byte("hello")),
		g.rec(nil, []byte("no key")),
		g.rec([]byte{}, []byte("empty key, sent present")),
		g.rec([]byte("k-empty-value"), nil),
		g.rec(nil, nil),
		g.rec([]byte("k-binary"), binary()),
		g.rec([]byte("k-headers"), []byte("three headers"),
			hdr("trace-id", "abc123"), hdr("empty", ""), hdr("bin", "\x00\x01\xfe\xff")),
		g.rec([]byte{0x00, 0xff}, []byte("binary key"), hdr("dup", "1"), hdr("dup", "2")),
	))
	for r := 0; r < 6; r++ {
		out = append(out, req("orders", 0, g.many(fmt.Sprintf("o0r%d", r), 12, r%2 == 0)...))
	}
	// One request larger than a whole segment.
	out = append(out, req("orders", 0, g.many("o0big", 80, true)...))
	out = append(out, req("orders", 0, g.rec([]byte("k-last"), []byte("last of orders-0"))))
	// orders-1: a few small requests.
	for r := 0; r < 4; r++ {
		out = append(out, req("orders", 1, g.many(fmt.Sprintf("o1r%d", r), 3, r != 1)...))
	}
	out = append(out, req("orders", 1, g.rec([]byte("k-bin-1"), binary(), hdr("h", "v"))))
	// orders-2: one record, one request.
	out = append(out, req("orders", 2, g.rec(nil, []byte("only record of orders-2"), hdr("empty", ""))))
	// a-b-c: a name with dashes.
	out = append(out, req("a-b-c", 0,
		g.rec([]byte("dash"), []byte("first")),
		g.rec(nil, binary(), hdr("content-type", "application/octet-stream")),
		g.rec([]byte("dash"), nil, hdr("a", ""), hdr("b", "")),
	))
	out = append(out, req("a-b-c", 0, g.many("abc", 10, true)...))
	return out
}

// The JSON document: what a reader of the directory must serve.
type (
	docJSON struct {
		Topics []topicJSON `json:"topics"`
		Groups []groupJSON `json:"groups"`
	}
	topicJSON struct {
		Name       string          `json:"name"`
		Partitions []partitionJSON `json:"partitions"`
	}
	partitionJSON struct {
		Partition      uint32       `json:"partition"`
		LogStartOffset uint64       `json:"log_start_offset"`
		NextOffset     uint64       `json:"next_offset"`
		Records        []recordJSON `json:"records"`
	}
	recordJSON struct {
		Offset      uint64       `json:"offset"`
		Key         *string      `json:"key"` // base64; null when the broker returned none
		Value       string       `json:"value"`
		Headers     []headerJSON `json:"headers"`
		TimestampMs int64        `json:"timestamp_ms"`
	}
	headerJSON struct {
		Key   string `json:"key"`
		Value string `json:"value"` // base64
	}
	groupJSON struct {
		Group   string            `json:"group"`
		Topic   string            `json:"topic"`
		Offsets []groupOffsetJSON `json:"offsets"`
	}
	groupOffsetJSON struct {
		Partition uint32 `json:"partition"`
		Offset    uint64 `json:"offset"`
	}
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// readBack consumes every partition from its start to its end and fetches
// the group's offsets, exactly as the broker serves them.
func readBack(ctx context.Context, c pb.BrokerServiceClient) (docJSON, error) {
	var doc docJSON
	for _, t := range topics {
		offs, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: t.name})
		if err != nil {
			return doc, fmt.Errorf("offsets %s: %w", t.name, err)
		}
		tj := topicJSON{Name: t.name}
		for _, po := range offs.GetPartitions() {
			pj := partitionJSON{Partition: po.GetPartition(), LogStartOffset: po.GetLogStartOffset(),
				NextOffset: po.GetNextOffset(), Records: []recordJSON{}}
			if pj.NextOffset > pj.LogStartOffset {
				if pj.Records, err = consumeAll(ctx, c, t.name, pj); err != nil {
					return doc, err
				}
			}
			tj.Partitions = append(tj.Partitions, pj)
		}
		doc.Topics = append(doc.Topics, tj)
	}
	fo, err := c.FetchOffsets(ctx, &pb.FetchOffsetsRequest{Group: group, Topic: "orders"})
	if err != nil {
		return doc, fmt.Errorf("fetch offsets: %w", err)
	}
	gj := groupJSON{Group: group, Topic: "orders"}
	for _, o := range fo.GetOffsets() {
		gj.Offsets = append(gj.Offsets, groupOffsetJSON{Partition: o.GetPartition(), Offset: o.GetOffset()})
	}
	doc.Groups = append(doc.Groups, gj)
	return doc, nil
}

func consumeAll(ctx context.Context, c pb.BrokerServiceClient, topic string, pj partitionJSON) ([]recordJSON, error) {
	st, err := c.Consume(ctx, &pb.ConsumeRequest{Topic: topic, Partition: pj.Partition,
		Offset: pj.LogStartOffset, StopAtEnd: true})
	if err != nil {
		return nil, err
	}
	var out []recordJSON
	for {
		e, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("consume %s-%d: %w", topic, pj.Partition, err)
		}
		r := recordJSON{Offset: e.GetOffset(), Value: b64(e.GetValue()), Headers: []headerJSON{},
			TimestampMs: e.GetTimestampMs()}
		if e.Key != nil {
			k := b64(e.Key)
			r.Key = &k
		}
		for _, h := range e.GetHeaders() {
			r.Headers = append(r.Headers, headerJSON{Key: h.GetKey(), Value: b64(h.GetValue())})
		}
		out = append(out, r)
	}
	want := pj.NextOffset - pj.LogStartOffset
	if uint64(len(out)) != want {
		return nil, fmt.Errorf("consume %s-%d: %d records, want %d", topic, pj.Partition, len(out), want)
	}
	for i, r := range out {
		if r.Offset != pj.LogStartOffset+uint64(i) {
			return nil, fmt.Errorf("consume %s-%d: record %d at offset %d", topic, pj.Partition, i, r.Offset)
		}
	}
	return out, nil
}
