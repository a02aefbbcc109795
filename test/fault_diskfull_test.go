//go:build linux

package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// TestFaultDiskFull runs the broker on a real tmpfs (8 MiB + 3 MiB a round),
// fills the rest of it with a file, and checks that produce gets
// RESOURCE_EXHAUSTED within 1 s with no hang and nothing partial visible,
// that reads keep serving,
// that produce works again once the file is deleted, and that a SIGTERM and
// restart are clean with exactly the acknowledged records.
//
//	short: 2 fill/free rounds; long: LOGBROKER_LONG=1, 20 rounds; knob LOGBROKER_DISKFULL_ROUNDS
//
// It needs root (to mount the tmpfs) and skips otherwise, or fails under
// CI=true (skipOrFailInCI).
func TestFaultDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFailInCI(t, "needs root: mounts a small tmpfs as the data directory (run the tests as root, as CI does)")
	}
	const (
		topic      = "full"
		partitions = 2
	)
	rounds := faultKnob(t, "LOGBROKER_DISKFULL_ROUNDS", 2, 20)
	// Each round leaves data behind: a partition fills the zeros it wrote
	// ahead (1 MiB under --fsync always) before it refuses, and after the
	// filler goes it writes 96 KiB and zeros 1 MiB ahead again. On a fixed
	// 8 MiB the data alone filled the disk by round 4, so the size grows
	// with the rounds.
	sizeMiB := 8 + 3*rounds
	mnt := filepath.Join(t.TempDir(), "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%dm", sizeMiB)); err != nil {
		skipOrFailInCI(t, "cannot mount a tmpfs at %s (%v): this machine or container lacks CAP_SYS_ADMIN", mnt, err)
	}
	// Registered before the broker's cleanup, so it runs after the broker is gone.
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
			syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})

	b := StartProcBroker(t, ProcOptions{DataDir: filepath.Join(mnt, "data"), Args: []string{"--segment-bytes=1048576"}})
	if _, err := b.Client().CreateTopic(faultCtx(t, time.Minute), &pb.CreateTopicRequest{Name: topic, Partitions: partitions}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	acked := make([][]string, partitions) // values by partition, in offset order
	seq := 0
	// produce sends one batch of n records of size bytes to p and returns
	// the call's error and duration; acknowledged values are noted.
	produce := func(p uint32, n, size int) (error, time.Duration) {
		recs := make([]*pb.Record, n)
		vals := make([]string, n)
		for i := range recs {
			seq++
			v := fmt.Sprintf("%08d:", seq)
			v += string(bytes.Repeat([]byte{'a' + byte(seq%26)}, size-len(v)))
			vals[i], recs[i] = v, &pb.Record{Value: []byte(v)}
		}
		began := time.Now()
		resp, err := b.Client().Produce(faultCtx(t, 30*time.Second), &pb.ProduceRequest{Topic: topic, Partition: p, Records: recs})
		took := time.Since(began)
		if err == nil {
			if resp.GetBaseOffset() != uint64(len(acked[p])) {
				t.Fatalf("partition %d: batch acked at %d, want %d", p, resp.GetBaseOffset(), len(acked[p]))
			}
			acked[p] = append(acked[p], vals...)
		}
		return err, took
	}
	// checkReads reads everything and compares with what was acknowledged.
	checkReads := func(when string) {
		t.Helper()
		for p := range uint32(partitions) {
			es, err := readAllEntries(faultCtx(t, time.Minute), b.Client(), topic, p, 0)
			if err != nil {
				t.Fatalf("%s: read %d: %v", when, p, err)
			}
			if len(es) != len(acked[p]) {
				t.Fatalf("%s: partition %d holds %d records, %d were acknowledged: a partial or unacknowledged batch is visible", when, p, len(es), len(acked[p]))
			}
			for i, e := range es {
				if string(e.GetValue()) != acked[p][i] {
					t.Fatalf("%s: partition %d offset %d: value %.20q, want %.20q", when, p, i, e.GetValue(), acked[p][i])
				}
			}
			// The .log files hold whole frames only: no partial write left
			// behind. Past the frames there may only be zeros written ahead.
			dir := filepath.Join(b.DataDir, fmt.Sprintf("%s-%d", topic, p))
			for _, base := range segmentFiles(t, dir) {
				path := filepath.Join(dir, segmentName(base, ".log"))
				data, err := os.ReadFile(path)
				must(t, err)
				var end int64
				for _, f := range readFrames(t, path) {
					end = f.pos + f.size
				}
				if end > int64(len(data)) || bytes.ContainsFunc(data[end:], func(r rune) bool { return r != 0 }) {
					t.Errorf("%s: %s is %d bytes, its frames end at %d: partial bytes on disk", when, path, len(data), end)
				}
			}
		}
	}

	for p := range uint32(partitions) {
		for range 5 {
			if err, _ := produce(p, 4, 1024); err != nil {
				t.Fatalf("produce before filling the disk: %v", err)
			}
		}
	}
	var slowest time.Duration
	var exhausted int
	filler := filepath.Join(mnt, "filler")
	for round := 1; round <= rounds; round++ {
		fillDisk(t, filler)
		// Produce 32 KiB batches to each partition until it refuses too: a
		// partition first fills the space it holds already (--fsync always
		// writes zeros ahead of its data).
		for p := range uint32(partitions) {
			sawFull := false
			for i := 0; i < 100 && !sawFull; i++ {
				err, took := produce(p, 8, 4096)
				slowest = max(slowest, took)
				switch status.Code(err) {
				case codes.OK:
				case codes.ResourceExhausted:
					sawFull = true
					exhausted++
				default:
					t.Fatalf("round %d: produce on a full disk: %v after %s, want RESOURCE_EXHAUSTED", round, err, took)
				}
				if took > time.Second {
					t.Errorf("round %d: produce on a full disk took %s (%v), want at most 1 s", round, took, err)
				}
			}
			if !sawFull {
				t.Fatalf("round %d: 100 batches of 32 KiB fit in partition %d on a full %d MiB tmpfs", round, p, sizeMiB)
			}
		}
		// Every partition now refuses, fast, and nothing partial shows.
		for i := range 2 * partitions {
			err, took := produce(uint32(i%partitions), 8, 4096)
			if status.Code(err) == codes.ResourceExhausted {
				exhausted++
			}
			slowest = max(slowest, took)
			if status.Code(err) != codes.ResourceExhausted || took > time.Second {
				t.Errorf("round %d: produce to %d on a full disk: %v after %s, want RESOURCE_EXHAUSTED within 1 s", round, i%partitions, err, took)
			}
		}
		checkReads(fmt.Sprintf("round %d, disk full", round))

		// Space returns: produce works again, on every partition.
		must(t, os.Remove(filler))
		for p := range uint32(partitions) {
			for range 3 {
				if err, _ := produce(p, 8, 4096); err != nil {
					t.Fatalf("round %d: produce after freeing space: %v", round, err)
				}
			}
		}
		checkReads(fmt.Sprintf("round %d, space freed", round))
	}

	if e := b.Terminate(time.Minute); e.Code != 0 {
		t.Fatalf("SIGTERM after the disk was full: %v", e)
	}
	info := b.Start()
	if !info.Clean || info.ScannedSegments != 0 || info.TruncatedBytes != 0 {
		t.Errorf("restart = %+v, want clean with nothing scanned or truncated", info)
	}
	checkReads("after restart")
	t.Logf("FIGURE disk full: %d rounds on a %d MiB tmpfs, %d produce calls refused with RESOURCE_EXHAUSTED on a full disk, slowest call %s; "+
		"0 partial records; writes resume when space returns; restart clean (scanned %d)",
		rounds, sizeMiB, exhausted, slowest.Round(time.Microsecond), info.ScannedSegments)
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	chunk := bytes.Repeat([]byte{0xfe}, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", path, err)
			}
			break
		}
	}
	// The last pages too.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
}
