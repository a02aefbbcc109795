package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logbroker/logbroker/pb"
)

// v1Expect is test/testdata/v1-datadir.json: what the previous release
// served from each fixture directory before it stopped.
type v1Expect struct {
	Revision string `json:"revision"`
	Datadirs map[string]struct {
		Topics []struct {
			Name       string `json:"name"`
			Partitions []struct {
				Partition uint32    `json:"partition"`
				LogStart  uint64    `json:"log_start_offset"`
				Next      uint64    `json:"next_offset"`
				Records   []v1Entry `json:"records"`
			} `json:"partitions"`
		} `json:"topics"`
		Groups []struct {
			Group   string `json:"group"`
			Topic   string `json:"topic"`
			Offsets []struct {
				Partition uint32 `json:"partition"`
				Offset    uint64 `json:"offset"`
			} `json:"offsets"`
		} `json:"groups"`
	} `json:"datadirs"`
}

type v1Entry struct {
	Offset  uint64 `json:"offset"`
	Key     []byte `json:"key"`
	Value   []byte `json:"value"`
	Headers []struct {
		Key   string `json:"key"`
		Value []byte `json:"value"`
	} `json:"headers"`
	TimestampMs int64 `json:"timestamp_ms"`
}

// TestUpgradeFromPreviousRelease starts today's broker on data directories
// the previous release wrote (one stopped cleanly, one killed: its active
// segments need recovery), and wants every record served as that release
// served it, through both Consume RPCs, the group's committed offsets kept,
// new appends taken, and all of it again after a restart. The previous
// release could not store null apart from empty, so those compare equal.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "v1-datadir.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want v1Expect
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Datadirs) != 2 {
		t.Fatalf("fixture describes %d directories, want 2", len(want.Datadirs))
	}
	for name, exp := range want.Datadirs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, filepath.Join("testdata", name), dir)
			b := NewProcBroker(t, ProcOptions{DataDir: dir})
			b.Start()
			// check reads every partition and wants the fixture's records,
			// then the ones appended since (extra, by partition).
			check := func(when string, extra map[string][]*pb.LogEntry) {
				t.Helper()
				for _, tp := range exp.Topics {
					for _, p := range tp.Partitions {
						key := fmt.Sprintf("%s-%d", tp.Name, p.Partition)
						ctx := faultCtx(t, time.Minute)
						req := &pb.ConsumeRequest{Topic: tp.Name, Partition: p.Partition, Start: pb.Start_START_EARLIEST, StopAtEnd: true}
						entries, err := consumeToEnd(ctx, b.Client(), req)
						if err != nil {
							t.Fatalf("%s: Consume %s: %v", when, key, err)
						}
						batches, err := consumeBatchesToEnd(ctx, b.Client(), req)
						if err != nil {
							t.Fatalf("%s: ConsumeBatches %s: %v", when, key, err)
						}
						var fromBatches []*pb.LogEntry
						for _, eb := range batches {
							fromBatches = append(fromBatches, eb.GetEntries()...)
						}
						for _, got := range [][]*pb.LogEntry{entries, fromBatches} {
							if len(got) != len(p.Records)+len(extra[key]) {
								t.Fatalf("%s: %s served %d records, want %d + %d new", when, key, len(got), len(p.Records), len(extra[key]))
							}
							for i, r := range p.Records {
								if d := diffV1(got[i], r); d != "" {
									t.Fatalf("%s: %s offset %d: %s", when, key, r.Offset, d)
								}
							}
							for i, e := range extra[key] {
								g := got[len(p.Records)+i]
								if g.GetOffset() != e.GetOffset() || !bytes.Equal(g.GetValue(), e.GetValue()) || !bytes.Equal(g.GetKey(), e.GetKey()) {
									t.Fatalf("%s: %s new record %d = %v, want %v", when, key, i, g, e)
								}
							}
						}
						o := offsetsOf1(t, b.Client(), tp.Name, p.Partition)
						if o.GetLogStartOffset() != p.LogStart || o.GetNextOffset() != p.Next+uint64(len(extra[key])) {
							t.Fatalf("%s: %s offsets %v, want [%d, %d)", when, key, o, p.LogStart, p.Next+uint64(len(extra[key])))
						}
					}
				}
				for _, g := range exp.Groups {
					resp, err := b.Client().FetchOffsets(faultCtx(t, time.Minute), &pb.FetchOffsetsRequest{Group: g.Group, Topic: g.Topic})
					if err != nil {
						t.Fatalf("%s: FetchOffsets %s: %v", when, g.Group, err)
					}
					got := map[uint32]uint64{}
					for _, o := range resp.GetOffsets() {
						got[o.GetPartition()] = o.GetOffset()
					}
					for _, o := range g.Offsets {
						if got[o.Partition] != o.Offset {
							t.Fatalf("%s: group %s partition %d committed %d, want %d", when, g.Group, o.Partition, got[o.Partition], o.Offset)
						}
					}
				}
			}
			check("first start", nil)

			// New appends go to new v2 segments after the old ones.
			extra := map[string][]*pb.LogEntry{}
			for _, tp := range exp.Topics {
				for _, p := range tp.Partitions {
					key := fmt.Sprintf("%s-%d", tp.Name, p.Partition)
					recs := []*pb.Record{{Key: []byte("new-key"), Value: []byte("new " + key), Headers: []*pb.Header{{Key: "h", Value: []byte("v")}}}, {Value: []byte("second new")}}
					resp, err := b.Client().Produce(faultCtx(t, time.Minute), &pb.ProduceRequest{Topic: tp.Name, Partition: p.Partition, Records: recs})
					if err != nil {
						t.Fatalf("produce to %s: %v", key, err)
					}
					if resp.GetBaseOffset() != p.Next {
						t.Fatalf("produce to %s: base offset %d, want %d (after the old records)", key, resp.GetBaseOffset(), p.Next)
					}
					for i, r := range recs {
						extra[key] = append(extra[key], &pb.LogEntry{Offset: p.Next + uint64(i), Key: r.GetKey(), Value: r.GetValue()})
					}
				}
			}
			check("after appends", extra)
			if e := b.Terminate(time.Minute); e.Code != 0 {
				t.Fatalf("stop: %v", e)
			}
			if _, err := os.Stat(filepath.Join(dir, ".format")); err != nil {
				t.Fatalf("no format marker after the upgrade: %v", err)
			}
			info := b.Start()
			if !info.Clean {
				t.Errorf("restart after a clean stop: %+v", info)
			}
			check("after a restart", extra)
		})
	}
}

// diffV1 compares a served entry with the previous release's; "" if equal.
func diffV1(got *pb.LogEntry, want v1Entry) string {
	switch {
	case got.GetOffset() != want.Offset:
		return fmt.Sprintf("offset %d", got.GetOffset())
	case !bytes.Equal(got.GetKey(), want.Key):
		return fmt.Sprintf("key %q, want %q", got.GetKey(), want.Key)
	case !bytes.Equal(got.GetValue(), want.Value):
		return fmt.Sprintf("value %q, want %q", got.GetValue(), want.Value)
	case got.GetTimestampMs() != want.TimestampMs:
		return fmt.Sprintf("timestamp %d, want %d", got.GetTimestampMs(), want.TimestampMs)
	case len(got.GetHeaders()) != len(want.Headers):
		return fmt.Sprintf("%d headers, want %d", len(got.GetHeaders()), len(want.Headers))
	}
	for i, h := range want.Headers {
		if g := got.GetHeaders()[i]; g.GetKey() != h.Key || !bytes.Equal(g.GetValue(), h.Value) {
			return fmt.Sprintf("header %d = %q:%q, want %q:%q", i, g.GetKey(), g.GetValue(), h.Key, h.Value)
		}
	}
	return ""
}

func offsetsOf1(t *testing.T, c pb.BrokerServiceClient, topic string, p uint32) *pb.PartitionOffsets {
	t.Helper()
	resp, err := c.GetOffsets(faultCtx(t, time.Minute), &pb.GetOffsetsRequest{Topic: topic})
	if err != nil {
		t.Fatalf("GetOffsets(%s): %v", topic, err)
	}
	for _, o := range resp.GetPartitions() {
		if o.GetPartition() == p {
			return o
		}
	}
	t.Fatalf("GetOffsets(%s): no partition %d", topic, p)
	return nil
}

// copyDir copies the tree at src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
