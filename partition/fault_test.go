package partition

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/logbroker/logbroker/vfs/errorfs"
)

var errDead = errors.New("test: process is dead")

// TestPowerLossLosesNoAckedRecord crashes the "machine" at random file
// operations under concurrent acked appends with fsync=always, optionally
// keeping a torn part of unsynced bytes, restarts, and checks that every
// acknowledged record is there with its value, offsets are dense, and no
// offset ever changes value.
func TestPowerLossLosesNoAckedRecord(t *testing.T) {
	cycles := 1000
	if testing.Short() {
		cycles = 100
	}
	ctx := context.Background()
	ffs := errorfs.NewFaultFS()
	cfg := testConfig()
	cfg.FS = ffs
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 128
	rng := rand.New(rand.NewSource(1))

	var acked, seen map[uint64]string // offset -> value: acknowledged, and ever read back
	var ackMu sync.Mutex
	var lost, crashes, totalAcked int
	var r *Registry

	for cycle := 0; cycle < cycles; cycle++ {
		if cycle%50 == 0 {
			// A fresh disk now and then keeps each cycle's full check cheap.
			if r != nil {
				r.Close()
			}
			totalAcked += len(acked)
			acked, seen = map[uint64]string{}, map[uint64]string{}
			ffs = errorfs.NewFaultFS()
			cfg.FS = ffs
			var err error
			if r, err = Open("/data", cfg); err != nil {
				t.Fatal(err)
			}
			if _, err := r.CreateTopic(ctx, "t", 2); err != nil {
				t.Fatal(err)
			}
		}
		// Verify what the previous crash left.
		for part := uint32(0); part < 2; part++ {
			p, err := r.Partition("t", part)
			if err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
			got := readAll(t, p, 0, 1+rng.Intn(2048))
			for i, rec := range got {
				off := uint64(part)<<40 | uint64(i)
				v := string(rec.Value)
				if old, ok := seen[off]; ok && old != v {
					t.Fatalf("cycle %d: partition %d offset %d holds %q, earlier %q", cycle, part, i, v, old)
				}
				seen[off] = v
			}
			for off, v := range acked {
				if off>>40 != uint64(part) {
					continue
				}
				i := off & (1<<40 - 1)
				if i >= uint64(len(got)) || string(got[i].Value) != v {
					lost++
					t.Errorf("cycle %d: acked record %q at partition %d offset %d lost", cycle, v, part, i)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}

		// Load, and die at the k-th file operation from now.
		k := int64(1 + rng.Intn(80))
		var ops atomic.Int64
		ffs.SetHook(func(errorfs.Op, string) error {
			if ops.Add(1) >= k {
				return errDead
			}
			return nil
		})
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				part := uint32(w % 2)
				p, _ := r.Partition("t", part)
				for i := 0; i < 20; i++ {
					n := 1 + (i+w)%3
					recs := make([]Record, n)
					for j := range recs {
						recs[j].Value = []byte(fmt.Sprintf("c%d-w%d-i%d-j%d", cycle, w, i, j))
					}
					base, _, err := p.Append(ctx, recs)
					if err != nil {
						return // the process died
					}
					ackMu.Lock()
					for j := range recs {
						acked[uint64(part)<<40|(base+uint64(j))] = string(recs[j].Value)
					}
					ackMu.Unlock()
				}
			}()
		}
		wg.Wait()
		ffs.SetHook(func(errorfs.Op, string) error { return errDead })
		torn := rng.Intn(2) == 0
		ffs.CrashWith(func(name string, durable, current []byte) []byte {
			if !torn || len(current) <= len(durable) {
				return durable
			}
			// Keep a random part of what was written but not synced.
			return current[:len(durable)+rng.Intn(len(current)-len(durable)+1)]
		})
		crashes++
		r.Close() // the old process's last words all fail
		ffs.SetHook(nil)
		var err error
		if r, err = Open("/data", cfg); err != nil {
			t.Fatalf("cycle %d: restart: %v", cycle, err)
		}
	}
	r.Close()
	totalAcked += len(acked)
	t.Logf("%d crash points, %d acked records, %d lost", crashes, totalAcked, lost)
	if totalAcked == 0 {
		t.Fatal("no record was ever acknowledged: the test exercised nothing")
	}
}

func TestDiskFullThenSpaceReturns(t *testing.T) {
	ctx := context.Background()
	ffs, _, r, p := newFaultPartition(t)
	defer r.Close()
	ffs.SetCapacity(ffs.Used() + 3000)
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		_, _, full = p.Append(ctx, []Record{{Value: make([]byte, 100)}})
	}
	if !errors.Is(full, ErrDiskFull) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ErrDiskFull wrapping ENOSPC", full)
	}
	o, _ := p.Offsets(ctx)
	got := readAll(t, p, 0, 0)
	if uint64(len(got)) != o.Next {
		t.Fatalf("read %d records, next offset %d: a partial record is visible", len(got), o.Next)
	}
	ffs.SetCapacity(0)
	base, _, err := p.Append(ctx, []Record{{Value: []byte("after")}})
	if err != nil || base != o.Next {
		t.Fatalf("append after space returned: base %d, %v; want %d", base, err, o.Next)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("clean close after disk full: %v", err)
	}
}

// TestSyncErrorIsNeverAcknowledged: after a sync error the partition
// refuses writes and serves only what was synced; its Close retries no sync
// and leaves no clean-shutdown marker, so the next start checks its data
// instead of trusting it.
func TestSyncErrorIsNeverAcknowledged(t *testing.T) {
	ctx := context.Background()
	ffs, cfg, r, p := newFaultPartition(t)
	defer r.Close()
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("ok")}}); err != nil {
		t.Fatal(err)
	}
	ffs.FailSync(1, syscall.EIO)
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("lost")}}); !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrFailed) {
		t.Fatalf("append with failing sync: %v, want ErrFailed wrapping EIO", err)
	}
	// No retry-then-ack: the partition refuses writes from now on.
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("later")}}); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after a sync error: %v, want ErrFailed", err)
	}
	got := readAll(t, p, 0, 0)
	if len(got) != 1 || string(got[0].Value) != "ok" {
		t.Fatalf("reads after a sync error return %d records; the unacknowledged one must not be served", len(got))
	}
	var syncs atomic.Int64
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpSync && strings.HasSuffix(name, ".log") {
			syncs.Add(1)
		}
		return nil
	})
	if err := r.Close(); !errors.Is(err, ErrFailed) {
		t.Errorf("Close after a sync error = %v, want ErrFailed", err)
	}
	ffs.SetHook(nil)
	if n := syncs.Load(); n != 0 {
		t.Errorf("Close after a sync error synced a .log %d times, want none", n)
	}
	r2, err := Open("/data", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if r2.Recovery().Clean {
		t.Error("the start after a sync error trusted a clean-shutdown marker")
	}
	p2, err := r2.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, p2, 0, 0); len(got) == 0 || string(got[0].Value) != "ok" {
		t.Errorf("after restart offset 0 is lost: %d records", len(got))
	}
}

// TestSealSyncErrorStopsPartition: a sync that fails while a roll seals the
// old segment stops the partition, even with ENOSPC: the sync is never
// retried at the next append and then acknowledged.
func TestSealSyncErrorStopsPartition(t *testing.T) {
	ctx := context.Background()
	ffs, cfg, r, p := newFaultPartition(t)
	defer r.Close()
	for n := 0; p.Stats().SizeBytes+200 < cfg.SegmentBytes; n++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(n)}}); err != nil {
			t.Fatal(err)
		}
	}
	ffs.FailSync(1, syscall.ENOSPC) // the next sync is the seal's, in the roll
	if _, _, err := p.Append(ctx, []Record{{Value: make([]byte, 500)}}); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append whose roll could not sync the old segment: %v, want ErrFailed wrapping ENOSPC", err)
	}
	if base, _, err := p.Append(ctx, []Record{{Value: []byte("after")}}); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after the failed seal: base %d, %v; want ErrFailed", base, err)
	}
}

// TestRollFailsHalfWayThenResumes: the new segment of a roll cannot be
// created (out of descriptors) after the old one was sealed. The append is
// refused, nothing partial is visible, and the next append finishes the roll.
func TestRollFailsHalfWayThenResumes(t *testing.T) {
	ctx := context.Background()
	ffs, cfg, r, p := newFaultPartition(t)
	defer r.Close()
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpOpen && strings.HasSuffix(name, ".log") && !strings.HasSuffix(name, "00000000000000000000.log") {
			return syscall.EMFILE
		}
		return nil
	})
	// Small records fill the segment to just under its size; then a large
	// one needs the roll.
	n := 0
	for ; p.Stats().SizeBytes+100 < cfg.SegmentBytes; n++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(n)}}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, refused := p.Append(ctx, []Record{{Value: make([]byte, 500)}})
	if !errors.Is(refused, ErrTooManyOpenFiles) {
		t.Fatalf("append needing a roll without descriptors: %v, want ErrTooManyOpenFiles", refused)
	}
	ffs.SetHook(nil)
	// A small record would fit the old segment, which is sealed now.
	for i := n; i < n+50; i++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}}); err != nil {
			t.Fatalf("append %d after descriptors returned: %v", i, err)
		}
	}
	got := readAll(t, p, 0, 0)
	if len(got) != n+50 || p.Stats().Segments != 2 {
		t.Fatalf("read %d records in %d segments, want %d in 2", len(got), p.Stats().Segments, n+50)
	}
	for i, rec := range got {
		if !bytes.Equal(rec.Value, value(i)) {
			t.Fatalf("offset %d holds %q", i, rec.Value)
		}
	}
}

// faultTopic opens a registry on a fresh FaultFS, with cfg changed by
// configure (if not nil), and creates topic "t" of n partitions.
func faultTopic(t *testing.T, n uint32, configure func(*Config)) (*errorfs.FaultFS, Config, *Registry) {
	t.Helper()
	ffs := errorfs.NewFaultFS()
	cfg := testConfig()
	cfg.FS = ffs
	if configure != nil {
		configure(&cfg)
	}
	r, err := Open("/data", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateTopic(context.Background(), "t", n); err != nil {
		t.Fatal(err)
	}
	return ffs, cfg, r
}

// newFaultPartition opens a registry on a fresh FaultFS with one
// one-partition topic "t".
func newFaultPartition(t *testing.T) (*errorfs.FaultFS, Config, *Registry, *Partition) {
	t.Helper()
	ffs, cfg, r := faultTopic(t, 1, nil)
	p, err := r.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return ffs, cfg, r, p
}

// TestCancelledReadReleasesView: a read whose context ends while the actor
// builds its view leaves no view behind: the view's file is released, so
// it neither blocks appends under MaxOpenFiles nor stays open after Close.
func TestCancelledReadReleasesView(t *testing.T) {
	ctx := context.Background()
	ffs := errorfs.NewFaultFS()
	cfg := testConfig()
	cfg.FS = ffs
	cfg.MaxOpenFiles = 1
	r, err := Open("/data", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateTopic(ctx, "t", 1); err != nil {
		t.Fatal(err)
	}
	p, _ := r.Partition("t", 0)
	for range 100 {
		if _, _, err := p.Append(ctx, []Record{{Value: make([]byte, 100)}}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	// Reopened, segment 0 is sealed and loads its index on the first read.
	if r, err = Open("/data", cfg); err != nil {
		t.Fatal(err)
	}
	p, _ = r.Partition("t", 0)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpOpen && strings.HasSuffix(name, "00000000000000000000.index") {
			once.Do(func() { close(entered); <-release })
		}
		return nil
	})
	rctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := p.Read(rctx, 0, 0); errc <- err }()
	<-entered
	cancel()
	close(release)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read = %v, want context.Canceled", err)
	}
	ffs.SetHook(nil)
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("x")}}); err != nil {
		t.Errorf("append after the cancelled read: %v", err)
	}
	r.Close()
	if n := ffs.OpenFiles(); n != 0 {
		t.Errorf("after Close: %d files still open", n)
	}
}

// TestRetentionRemoveFailsHalfWay: retention closes the oldest segment and
// deletes its .log, then fails to delete its .index. The segment leaves the
// log all the same: reads from the new log start are served.
func TestRetentionRemoveFailsHalfWay(t *testing.T) {
	ctx := context.Background()
	ffs, _, r := faultTopic(t, 1, func(c *Config) { c.RetentionBytes = 3 * 4096 })
	defer r.Close()
	var fails atomic.Int32
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpRemove && strings.HasSuffix(name, "00000000000000000000.index") && fails.Add(1) == 1 {
			return syscall.EIO
		}
		return nil
	})
	p, _ := r.Partition("t", 0)
	for i := 0; fails.Load() == 0; i++ {
		if i == 5000 {
			t.Fatal("retention never removed the first segment")
		}
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Offsets asks the actor, so the retention that ran after the last
	// append (which answered first) has finished.
	o, err := p.Offsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.LogStart == 0 {
		t.Fatalf("Offsets = %+v: the half-removed segment is still the log's first", o)
	}
	if _, err := p.Read(ctx, o.LogStart, 0); err != nil {
		t.Fatalf("read from the log start after a half-failed removal: %v", err)
	}
}

// TestOpenFailureStopsPartitions: when Open fails after it has started the
// partitions (here, removing the clean-shutdown marker fails), it stops
// them: no file stays open behind the released data directory.
func TestOpenFailureStopsPartitions(t *testing.T) {
	ffs, cfg, r, p := newFaultPartition(t)
	if _, _, err := p.Append(context.Background(), []Record{{Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpRemove && strings.HasSuffix(name, cleanMarker) {
			return syscall.EIO
		}
		return nil
	})
	if _, err := Open("/data", cfg); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Open = %v, want the marker's EIO", err)
	}
	if n := ffs.OpenFiles(); n != 0 {
		t.Errorf("Open failed, yet %d files are still open", n)
	}
}

// TestDamagedFrameInActiveSegmentKept: a bit flipped inside a frame of the
// active segment, with good frames after it, is damage to written data, not
// a torn end: the next start keeps every frame (none of the acknowledged
// records after it is cut off) and reads of the damaged one report
// ErrCorrupt, after a clean stop and after a crash alike. (That a torn end,
// with nothing good after it, is still cut is segment's TestRecoverBitFlips
// and TestTornTailGarbage.)
func TestDamagedFrameInActiveSegmentKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 10 // all 60 batches in one segment
	r := openTest(t, dir, cfg)
	if _, err := r.CreateTopic(ctx, "t", 1); err != nil {
		t.Fatal(err)
	}
	p, _ := r.Partition("t", 0)
	for i := range 60 {
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "t-0", "*.log"))
	if len(logs) != 1 {
		t.Fatalf("want one segment, have %v", logs)
	}
	data, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Flip a value byte of batch 30 of 60 (one record each; the record
	// ends with its header count, 0, after the value).
	batchSize := func(pos int) int { return 12 + int(binary.BigEndian.Uint32(data[pos+8:])) }
	pos := 0
	for range 30 {
		pos += batchSize(pos)
	}
	data[pos+batchSize(pos)-2] ^= 0x10
	if err := os.WriteFile(logs[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		if !clean {
			// The same after a crash: no clean-shutdown marker.
			if err := os.Remove(filepath.Join(dir, cleanMarker)); err != nil {
				t.Fatal(err)
			}
		}
		r = openTest(t, dir, cfg)
		p, _ = r.Partition("t", 0)
		o, err := p.Offsets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if o.Next != 60 {
			t.Fatalf("clean=%v: next offset %d after the damage, want 60 (nothing acknowledged cut)", clean, o.Next)
		}
		good, damaged := 0, 0
		for off := uint64(0); off < 60; off++ {
			b, err := p.Read(ctx, off, 1)
			switch {
			case errors.Is(err, ErrCorrupt):
				damaged++
			case err != nil:
				t.Fatalf("clean=%v: read at %d: %v", clean, off, err)
			case b.Count > 0:
				good++
			}
		}
		if damaged != 1 || good != 59 {
			t.Errorf("clean=%v: %d records read, %d reported corrupt; want 59 and 1", clean, good, damaged)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeleteTopicFailsHalfWay: a delete whose rename fails for one partition
// after another was moved puts the topic back as it was (its records still
// served), so it neither comes back with holes at a restart nor lends its
// data to a topic made later under its name; a delete that then works
// leaves a recreated topic empty.
func TestDeleteTopicFailsHalfWay(t *testing.T) {
	ctx := context.Background()
	ffs, _, r := faultTopic(t, 2, nil)
	defer r.Close()
	for part := uint32(0); part < 2; part++ {
		p, _ := r.Partition("t", part)
		if _, _, err := p.Append(ctx, []Record{{Value: value(int(part))}}); err != nil {
			t.Fatal(err)
		}
	}
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpRename && strings.HasSuffix(name, "/t-1") {
			return syscall.EIO
		}
		return nil
	})
	if err := r.DeleteTopic(ctx, "t"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("DeleteTopic = %v, want the rename's EIO", err)
	}
	ffs.SetHook(nil)
	for part := uint32(0); part < 2; part++ {
		p, err := r.Partition("t", part)
		if err != nil {
			t.Fatalf("after the failed delete: %v", err)
		}
		if got := readAll(t, p, 0, 0); len(got) != 1 || !bytes.Equal(got[0].Value, value(int(part))) {
			t.Fatalf("after the failed delete partition %d reads %d records", part, len(got))
		}
	}
	if err := r.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateTopic(ctx, "t", 2); err != nil {
		t.Fatal(err)
	}
	for part := uint32(0); part < 2; part++ {
		p, _ := r.Partition("t", part)
		if o, _ := p.Offsets(ctx); o.Next != 0 {
			t.Errorf("the recreated topic's partition %d has the old data: %+v", part, o)
		}
	}
}

// TestCreateTopicSyncFails: a create whose data-directory sync fails leaves
// no directory behind, so the topic does not appear at the next start.
func TestCreateTopicSyncFails(t *testing.T) {
	ctx := context.Background()
	ffs, cfg, r, _ := newFaultPartition(t)
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpSyncDir && name == "/data" {
			return syscall.EIO
		}
		return nil
	})
	if _, err := r.CreateTopic(ctx, "u", 3); !errors.Is(err, syscall.EIO) {
		t.Fatalf("CreateTopic = %v, want the sync's EIO", err)
	}
	ffs.SetHook(nil)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := Open("/data", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for _, ti := range r2.Topics() {
		if ti.Name == "u" {
			t.Errorf("the failed topic appears after restart: %+v", ti)
		}
	}
}
