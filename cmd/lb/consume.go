package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

const consumeHelp = `Print the records of one partition, then wait for new ones (like tail -f).

Usage:
  lb consume TOPIC [--partition N] [--from earliest|latest|OFFSET] [flags]
  lb consume TOPIC [--partition N] --from-time TIME [flags]
  lb consume TOPIC --group GROUP [--member ID] [flags]

Stop with Ctrl-C, or pass --no-follow to stop at the end of the partition.
If the connection to the broker drops, lb reconnects and goes on after the
last record it printed: nothing is skipped or printed twice.

With --group, lb joins a consumer group: the broker spreads the topic's
partitions over the group's members, lb prints the records of the ones it
gets (from the group's committed offsets) and commits its progress every
--commit-interval, on every rebalance and when stopped. Records printed
after the last commit may be printed again by the next owner of a partition.

With --from-time, lb starts at the first record whose timestamp is at or
after TIME (RFC 3339, such as 2026-12-05T10:00:00Z, or Unix milliseconds),
as the broker finds it with its time index; records with earlier
timestamps that come after it (timestamps out of order) are printed too.

Output:
  plain  each record's value on its own line
  json   one JSON object per line: partition, offset, key, value, headers,
         timestamp (RFC 3339, UTC) and timestamp_ms. key and value are
         strings when they are UTF-8; otherwise key_base64 / value_base64
         hold them and key / value are null.

Examples:
  lb consume orders                              all of partition 0, then follow
  lb consume orders --partition 2 --from latest  only new records
  lb consume orders --from 100 --no-follow --output json
  lb consume orders --from-time 2026-12-05T10:00:00Z --no-follow
  lb consume orders --group billing              share orders with other members
`

func runConsume(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb consume", line: "lb consume TOPIC [--partition N] [--from earliest|latest|OFFSET] [--no-follow] [--output plain|json]", text: consumeHelp}
	fs := e.flagSet(u.name)
	partition := fs.Uint("partition", 0, "partition `N` to read")
	fromText := fs.String("from", "earliest", "start at `POSITION`: earliest, latest (only new records) or an offset")
	fromTime := fs.String("from-time", "", "start at the first record at or after `TIME`: RFC 3339 or Unix milliseconds")
	noFollow := fs.Bool("no-follow", false, "stop at the end of the partition instead of waiting for new records")
	output := fs.String("output", "plain", "output `FORMAT`: plain or json")
	maxBytes := fs.Uint("max-bytes", 0, "largest read `BYTES` per batch from the broker (default: the broker's)")
	gf := addGroupFlags(fs)
	topic, err := e.parseOne(fs, u, args, "TOPIC")
	if err != nil {
		return err
	}
	from, err := client.ParsePosition(*fromText)
	if err != nil {
		return u.fail(fmt.Sprintf("--from %q: want earliest, latest or an offset (0, 1, ...)", *fromText))
	}
	var fromMs int64
	if *fromTime != "" {
		if fromMs, err = parseTime(*fromTime); err != nil {
			return u.fail(fmt.Sprintf("--from-time %q: %v", *fromTime, err))
		}
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		if explicit["from"] || *gf.group != "" {
			return u.fail("--from-time goes without --from and --group: it chooses the start itself")
		}
	}
	if *output != "plain" && *output != "json" {
		return u.fail(fmt.Sprintf("--output %q: want plain or json", *output))
	}
	if *partition > 1<<32-1 || *maxBytes > 1<<32-1 {
		return u.fail("--partition and --max-bytes must fit in 32 bits")
	}
	printEntry := printPlain
	if *output == "json" {
		printEntry = printJSON
	}
	if *gf.group != "" {
		return consumeGroup(ctx, e, u, fs, topic, gf, printEntry, uint32(*maxBytes))
	}
	var groupOnly []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "member" || f.Name == "commit-interval" {
			groupOnly = append(groupOnly, "--"+f.Name)
		}
	})
	if len(groupOnly) > 0 {
		return u.fail(fmt.Sprintf("%v only mean something with --group", groupOnly))
	}

	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if *fromTime != "" {
		if from, err = startAtTime(ctx, e, c, topic, uint32(*partition), fromMs); err != nil {
			return err
		}
	}
	// Check the topic, partition and offset first: the broker would refuse
	// them too, but here the message can name the valid range.
	if err := checkStart(ctx, e, c, topic, uint32(*partition), from); err != nil {
		return err
	}

	w := bufio.NewWriter(e.stdout)
	opts := client.ConsumeOptions{
		MaxBytes:   uint32(*maxBytes),
		StopAtEnd:  *noFollow,
		AfterBatch: w.Flush, // a followed partition shows records as they come
		Logger:     e.logger(),
	}
	if *noFollow {
		opts.MaxRetries = 5 // a broker that stays away ends a bounded read
	}
	err = c.Consume(ctx, topic, uint32(*partition), from, opts, func(entry *pb.LogEntry) error {
		return printEntry(w, uint32(*partition), entry)
	})
	return endPrinting(ctx, w, err) // Ctrl-C is how one stops following
}

// endPrinting flushes what a consume printed and returns its error, except
// that a cancelled ctx (Ctrl-C) is the normal way to stop.
func endPrinting(ctx context.Context, w *bufio.Writer, err error) error {
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

func checkStart(ctx context.Context, e *env, c *client.Client, topic string, partition uint32, from client.Position) error {
	rctx, cancel := e.withTimeout(ctx)
	defer cancel()
	offs, err := c.GetOffsets(rctx, topic)
	if err != nil {
		return err
	}
	if int(partition) >= len(offs) {
		return fmt.Errorf("partition %d does not exist: topic %s has %d partitions (0..%d)", partition, topic, len(offs), len(offs)-1)
	}
	off, ok := from.Offset()
	if !ok {
		return nil
	}
	o := offs[partition]
	if off >= o.GetLogStartOffset() && off <= o.GetNextOffset() {
		return nil
	}
	held := fmt.Sprintf("it holds offsets %d..%d", o.GetLogStartOffset(), o.GetNextOffset()-1)
	if o.GetNextOffset() == o.GetLogStartOffset() {
		held = "it is empty"
	}
	return fmt.Errorf("offset %d is out of range for %s/%d: %s; --from %d waits for the next record, --from earliest reads all",
		off, topic, partition, held, o.GetNextOffset())
}

// parseTime reads --from-time: RFC 3339, or Unix milliseconds.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms == 0 {
			return 0, errors.New("want a time after the Unix epoch")
		}
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, errors.New("want RFC 3339 (2026-12-05T10:00:00Z) or Unix milliseconds")
	}
	if ms := t.UnixMilli(); ms != 0 {
		return ms, nil
	}
	return 0, errors.New("want a time after the Unix epoch")
}

// startAtTime asks the broker for the first offset of partition at or
// after ms.
func startAtTime(ctx context.Context, e *env, c *client.Client, topic string, partition uint32, ms int64) (client.Position, error) {
	rctx, cancel := e.withTimeout(ctx)
	defer cancel()
	offs, err := c.GetOffsetsForTime(rctx, topic, ms)
	if err != nil {
		return client.Position{}, err
	}
	if int(partition) >= len(offs) {
		return client.Position{}, fmt.Errorf("partition %d does not exist: topic %s has %d partitions (0..%d)", partition, topic, len(offs), len(offs)-1)
	}
	return client.AtOffset(offs[partition].GetTimestampOffset()), nil
}

func printPlain(w io.Writer, _ uint32, e *pb.LogEntry) error {
	if _, err := w.Write(e.GetValue()); err != nil {
		return err
	}
	_, err := w.Write([]byte{'\n'})
	return err
}

// jsonEntry is one line of --output json.
type jsonEntry struct {
	Partition   uint32       `json:"partition"`
	Offset      uint64       `json:"offset"`
	Key         *string      `json:"key"`
	KeyBase64   string       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 string       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers"`
	Timestamp   string       `json:"timestamp"`
	TimestampMs int64        `json:"timestamp_ms"`
}

type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"value_base64,omitempty"`
}

// text gives b as a JSON string when it is UTF-8, else as base64.
func text(b []byte) (*string, string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

func printJSON(w io.Writer, partition uint32, e *pb.LogEntry) error {
	j := jsonEntry{
		Partition:   partition,
		Offset:      e.GetOffset(),
		Headers:     []jsonHeader{},
		Timestamp:   time.UnixMilli(e.GetTimestampMs()).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		TimestampMs: e.GetTimestampMs(),
	}
	if len(e.GetKey()) > 0 {
		j.Key, j.KeyBase64 = text(e.GetKey())
	}
	j.Value, j.ValueBase64 = text(e.GetValue())
	for _, h := range e.GetHeaders() {
		jh := jsonHeader{Key: h.GetKey()}
		jh.Value, jh.ValueBase64 = text(h.GetValue())
		j.Headers = append(j.Headers, jh)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(j)
}
