package test

// Helpers shared by the process-level fault tests (fault_*_test.go).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// faultLong says whether the long versions run (LOGBROKER_LONG=1).
func faultLong() bool { return os.Getenv("LOGBROKER_LONG") == "1" }

// faultKnob is the integer environment variable name, or short in CI and
// long under LOGBROKER_LONG=1.
func faultKnob(t testing.TB, name string, short, long int) int {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	if faultLong() {
		return long
	}
	return short
}

// skipOrFailInCI skips a test whose machine lacks what it needs (a tool,
// root, a mount), except under CI=true, where it fails: .ci/run installs
// what the fault tests need, so there a skip would mean a fault went
// untested while CI stayed green.
func skipOrFailInCI(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, where this test may not skip: "+format, args...)
	}
	t.Skipf(format, args...)
}

// faultCtx is a context for one step of a fault test.
func faultCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// faultConn is a connection to addr that the caller closes.
func faultConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return conn
}

// wantStatus fails the test unless err has code want.
func wantStatus(t testing.TB, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

// readRange reads topic/p from offset to the end of the log (stop_at_end)
// with ConsumeBatches, calling fn for each entry in order. It returns the
// offset after the last entry and the stream's error (nil at a clean end).
func readRange(ctx context.Context, c pb.BrokerServiceClient, topic string, p uint32, from uint64, fn func(*pb.LogEntry) error) (uint64, error) {
	s, err := c.ConsumeBatches(ctx, &pb.ConsumeRequest{Topic: topic, Partition: p, Offset: from, StopAtEnd: true, MaxBytes: 4 << 20})
	if err != nil {
		return from, err
	}
	next := from
	for {
		b, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return next, nil
		}
		if err != nil {
			return next, err
		}
		for _, e := range b.GetEntries() {
			if err := fn(e); err != nil {
				return next, err
			}
			next = e.GetOffset() + 1
		}
	}
}

// readAllEntries reads topic/p from offset to the end and checks that the
// offsets are dense from there.
func readAllEntries(ctx context.Context, c pb.BrokerServiceClient, topic string, p uint32, from uint64) ([]*pb.LogEntry, error) {
	var out []*pb.LogEntry
	want := from
	_, err := readRange(ctx, c, topic, p, from, func(e *pb.LogEntry) error {
		if e.GetOffset() != want {
			return fmt.Errorf("%s/%d: offset %d after %d: not dense", topic, p, e.GetOffset(), want-1)
		}
		want++
		out = append(out, e)
		return nil
	})
	return out, err
}

// nextOffsets is GetOffsets as a slice of next offsets by partition.
func nextOffsets(ctx context.Context, c pb.BrokerServiceClient, topic string) ([]uint64, error) {
	resp, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: topic})
	if err != nil {
		return nil, err
	}
	out := make([]uint64, len(resp.GetPartitions()))
	for _, o := range resp.GetPartitions() {
		if int(o.GetPartition()) >= len(out) {
			return nil, fmt.Errorf("GetOffsets(%s): partition %d of %d", topic, o.GetPartition(), len(out))
		}
		out[o.GetPartition()] = o.GetNextOffset()
	}
	return out, nil
}

// dirDigest maps every regular file under dir whose name has one of the
// suffixes (none: every file) to the SHA-256 of its contents.
func dirDigest(t testing.TB, dir string, suffixes ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if len(suffixes) > 0 && !hasAnySuffix(path, suffixes) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatalf("digest %s: %v", dir, err)
	}
	return out
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// diffDigests describes how two dirDigest results differ ("" if equal).
func diffDigests(before, after map[string]string) string {
	var diffs []string
	for k, v := range before {
		switch w, ok := after[k]; {
		case !ok:
			diffs = append(diffs, "removed "+k)
		case w != v:
			diffs = append(diffs, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, ", ")
}

// segmentFiles lists the base offsets of the .log files in a partition
// directory, in order.
func segmentFiles(t testing.TB, partDir string) []uint64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var bases []uint64
	for _, n := range names {
		base, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(n), ".log"), 10, 64)
		if err == nil {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases
}

// segmentName is the file name of a segment's .log or .index (ext with dot).
func segmentName(base uint64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// mib formats bytes as MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
