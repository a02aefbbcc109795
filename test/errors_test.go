package test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
)

// limits keeps the in-process error tests' limits small and known.
func limits(maxRecord int, maxPartitions uint32) inprocConfig {
	return func(c *partition.Config, _ *server.Options) {
		c.MaxRecordBytes = maxRecord
		c.MaxPartitions = maxPartitions
	}
}

// errCase is one bad request and the status it must get.
type errCase struct {
	name      string
	call      func(context.Context) error
	wantCode  codes.Code
	wantInMsg []string
}

// TestErrorCodes drives every error of API.md's table that a request can
// cause, through every RPC it applies to, and checks the code and that the
// message names the bad value. Nothing a bad request does may change the log.
func TestErrorCodes(t *testing.T) {
	b := startInproc(t, limits(1024, 8))
	b.createTopic("t", 2)
	b.produce("t", 0, vals("a", "b", "c")...)
	c := b.Client()

	consume := func(req *pb.ConsumeRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := consumeToEnd(ctx, c, req)
			return err
		}
	}
	consumeBatches := func(req *pb.ConsumeRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := consumeBatchesToEnd(ctx, c, req)
			return err
		}
	}
	produce := func(req *pb.ProduceRequest) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.Produce(ctx, req)
			return err
		}
	}
	create := func(name string, n uint32) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: name, Partitions: n})
			return err
		}
	}
	big := func(n int) []byte { return []byte(strings.Repeat("x", n)) }

	tests := []errCase{
		// NOT_FOUND: unknown topic, or a partition not in the topic.
		{"Produce unknown topic", produce(&pb.ProduceRequest{Topic: "nosuch", Records: vals("x")}), codes.NotFound, []string{`"nosuch"`}},
		{"Produce unknown topic ACKS_NONE", produce(&pb.ProduceRequest{Topic: "nosuch", Records: vals("x"), Acks: pb.Acks_ACKS_NONE}), codes.NotFound, []string{`"nosuch"`}},
		{"Produce unknown partition", produce(&pb.ProduceRequest{Topic: "t", Partition: 7, Records: vals("x")}), codes.NotFound, []string{"7", `"t"`}},
		{"Produce partition = count", produce(&pb.ProduceRequest{Topic: "t", Partition: 2, Records: vals("x")}), codes.NotFound, []string{"2", `"t"`}},
		{"Consume unknown topic", consume(&pb.ConsumeRequest{Topic: "nosuch", StopAtEnd: true}), codes.NotFound, []string{`"nosuch"`}},
		{"Consume unknown topic live", consume(&pb.ConsumeRequest{Topic: "nosuch"}), codes.NotFound, []string{`"nosuch"`}},
		{"Consume unknown partition", consume(&pb.ConsumeRequest{Topic: "t", Partition: 9, StopAtEnd: true}), codes.NotFound, []string{"9", `"t"`}},
		{"ConsumeBatches unknown topic", consumeBatches(&pb.ConsumeRequest{Topic: "nosuch"}), codes.NotFound, []string{`"nosuch"`}},
		{"ConsumeBatches unknown partition", consumeBatches(&pb.ConsumeRequest{Topic: "t", Partition: 4000000000}), codes.NotFound, []string{"4000000000"}},
		{"GetOffsets unknown topic", func(ctx context.Context) error {
			_, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: "nosuch"})
			return err
		}, codes.NotFound, []string{`"nosuch"`}},
		{"DeleteTopic unknown topic", func(ctx context.Context) error {
			_, err := c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: "nosuch"})
			return err
		}, codes.NotFound, []string{`"nosuch"`}},

		// ALREADY_EXISTS.
		{"CreateTopic existing", create("t", 2), codes.AlreadyExists, []string{`"t"`}},
		{"CreateTopic existing, other count", create("t", 5), codes.AlreadyExists, []string{`"t"`}},

		// INVALID_ARGUMENT: partition counts.
		{"CreateTopic 0 partitions", create("zero", 0), codes.InvalidArgument, []string{"0"}},
		{"CreateTopic over max partitions", create("many", 9), codes.InvalidArgument, []string{"9", "8"}},
		{"CreateTopic huge partitions", create("many", 1<<32-1), codes.InvalidArgument, []string{"4294967295"}},

		// INVALID_ARGUMENT: records.
		{"Produce no records", produce(&pb.ProduceRequest{Topic: "t"}), codes.InvalidArgument, []string{"no records", "t"}},
		{"Produce no records ACKS_NONE", produce(&pb.ProduceRequest{Topic: "t", Acks: pb.Acks_ACKS_NONE}), codes.InvalidArgument, []string{"no records"}},
		{"Produce record over max", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: big(2000)}}}), codes.InvalidArgument, []string{"2000", "1024"}},
		{"Produce second record over max", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: []byte("ok")}, {Value: big(1500)}}}), codes.InvalidArgument, []string{"record 1", "1500", "1024"}},
		{"Produce key over max", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Key: big(1025)}}}), codes.InvalidArgument, []string{"1025", "1024"}},
		{"Produce headers over max", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Headers: []*pb.Header{{Key: "h", Value: big(1100)}}}}}), codes.InvalidArgument, []string{"1024"}},
		// Payload of exactly the maximum: only its encoded size is over.
		{"Produce encoded size over max", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: big(1024)}}}), codes.InvalidArgument, []string{"1024"}},
		{"Produce record over max ACKS_NONE", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: big(5000)}}, Acks: pb.Acks_ACKS_NONE}), codes.InvalidArgument, []string{"5000"}},
		{"Produce ACKS_ALL", produce(&pb.ProduceRequest{Topic: "t", Records: vals("x"), Acks: pb.Acks_ACKS_ALL}), codes.InvalidArgument, []string{"ACKS_ALL"}},
		{"Produce unknown acks", produce(&pb.ProduceRequest{Topic: "t", Records: vals("x"), Acks: 42}), codes.InvalidArgument, []string{"42"}},
		{"Consume unknown start", consume(&pb.ConsumeRequest{Topic: "t", Start: 42}), codes.InvalidArgument, []string{"42"}},

		// OUT_OF_RANGE: past the end (3 records: offset 3 is the end, 4 is past it).
		{"Consume past end", consume(&pb.ConsumeRequest{Topic: "t", Offset: 4, StopAtEnd: true}), codes.OutOfRange, []string{"4", "3"}},
		{"Consume past end live", consume(&pb.ConsumeRequest{Topic: "t", Offset: 4}), codes.OutOfRange, []string{"4"}},
		{"Consume far past end", consume(&pb.ConsumeRequest{Topic: "t", Offset: 1<<64 - 1}), codes.OutOfRange, []string{"18446744073709551615"}},
		{"Consume past end of empty partition", consume(&pb.ConsumeRequest{Topic: "t", Partition: 1, Offset: 1}), codes.OutOfRange, []string{"1"}},
		{"ConsumeBatches past end", consumeBatches(&pb.ConsumeRequest{Topic: "t", Offset: 4}), codes.OutOfRange, []string{"4"}},
	}
	// INVALID_ARGUMENT: topic names, on every RPC that takes one.
	badNames := []string{"", ".", "..", strings.Repeat("n", 250), "a/b", "../etc", "a b", "tab\t", "ä", "a\x00b", "a:b", "a*"}
	for _, name := range badNames {
		q := strconv.Quote(name)
		tests = append(tests,
			errCase{"CreateTopic name " + q, create(name, 1), codes.InvalidArgument, []string{q}},
			errCase{"Produce name " + q, produce(&pb.ProduceRequest{Topic: name, Records: vals("x")}), codes.InvalidArgument, []string{q}},
			errCase{"Consume name " + q, consume(&pb.ConsumeRequest{Topic: name}), codes.InvalidArgument, []string{q}},
			errCase{"ConsumeBatches name " + q, consumeBatches(&pb.ConsumeRequest{Topic: name}), codes.InvalidArgument, []string{q}},
			errCase{"GetOffsets name " + q, func(ctx context.Context) error {
				_, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: name})
				return err
			}, codes.InvalidArgument, []string{q}},
			errCase{"DeleteTopic name " + q, func(ctx context.Context) error {
				_, err := c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: name})
				return err
			}, codes.InvalidArgument, []string{q}},
		)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireCode(t, tt.name, tt.call(testContext(t)), tt.wantCode, tt.wantInMsg...)
		})
	}

	// None of it changed the log or the topics.
	if got := valuesOf(b.readAll("t", 0, 0)); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("partition t/0 after bad requests holds %q, want a,b,c", got)
	}
	if o := b.offsets("t", 1); o.GetNextOffset() != 0 {
		t.Errorf("partition t/1 after bad requests has next offset %d, want 0", o.GetNextOffset())
	}
	topics, err := c.ListTopics(testContext(t), &pb.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(topics.GetTopics()) != 1 || topics.GetTopics()[0].GetName() != "t" || len(topics.GetTopics()[0].GetPartitions()) != 2 {
		t.Errorf("topics after bad requests: %v, want only t with 2 partitions", topics.GetTopics())
	}
}

// TestValidTopicNames: the edges of the name rule are accepted.
func TestValidTopicNames(t *testing.T) {
	b := startInproc(t)
	for _, name := range []string{"a", "...", ".a", "a..b", "_", "-", "A-Z.a_z-0.9", strings.Repeat("n", 249)} {
		b.createTopic(name, 1)
		b.produce(name, 0, vals("v")...)
		if got := valuesOf(b.readAll(name, 0, 0)); len(got) != 1 || got[0] != "v" {
			t.Errorf("topic %q holds %q, want [v]", name, got)
		}
	}
}

// TestMaxRecordAtTheLimit: a record of exactly the maximum encoded size is
// taken, a larger one is INVALID_ARGUMENT, and gRPC's own size limit does not
// get there first (the server's receive limit must fit the record limit).
func TestMaxRecordAtTheLimit(t *testing.T) {
	b := startInproc(t) // the default maximum, 1 MiB
	b.createTopic("big", 1)
	c := b.Client()
	const max = partition.DefaultMaxRecordBytes

	// Find the largest value that is taken: the encoding adds a few bytes.
	var fit int
	for v := max; v > max-64; v-- {
		_, err := c.Produce(testContext(t), &pb.ProduceRequest{Topic: "big", Records: []*pb.Record{{Value: make([]byte, v), TimestampMs: 1}}})
		if err == nil {
			fit = v
			break
		}
		requireCode(t, "Produce value of "+strconv.Itoa(v), err, codes.InvalidArgument, strconv.Itoa(max))
	}
	if fit == 0 {
		t.Fatalf("no record within 64 bytes of the %d-byte maximum was taken", max)
	}
	t.Logf("largest value taken: %d bytes (maximum record %d)", fit, max)
	got := b.readAll("big", 0, 0)
	if len(got) != 1 || len(got[0].GetValue()) != fit {
		t.Fatalf("read back %d entries, want one of %d bytes", len(got), fit)
	}
	// Two maximal records in one request stay under the receive limit too.
	_, err := c.Produce(testContext(t), &pb.ProduceRequest{Topic: "big", Records: []*pb.Record{
		{Value: make([]byte, fit), TimestampMs: 1}, {Value: make([]byte, fit), TimestampMs: 1},
	}})
	if err != nil {
		t.Fatalf("two maximal records in one request: %v", err)
	}
	// Twice the maximum in one record: refused by the broker's rule, not by
	// gRPC's message size.
	_, err = c.Produce(testContext(t), &pb.ProduceRequest{Topic: "big", Records: []*pb.Record{{Value: make([]byte, 2*max)}}})
	requireCode(t, "Produce of twice the maximum", err, codes.InvalidArgument, strconv.Itoa(2*max))
}
