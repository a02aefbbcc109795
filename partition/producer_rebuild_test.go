package partition

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/logbroker/logbroker/vfs/errorfs"
)

// appendIdem stores an idempotent batch through the partition's front
// door, as the Kafka front end does.
func appendIdem(t *testing.T, p *Partition, pid int64, epoch int16, seq int32, n int) (uint64, uint64, error) {
	t.Helper()
	return p.AppendBatch(context.Background(), idemBatch(t, pid, epoch, seq, n, 1000))
}

// producerState is the encoded producer state of a registry's partition
// "t"-0; the registry must be closed (its actor gone).
func producerState(t *testing.T, r *Registry) []byte {
	t.Helper()
	p, err := r.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	return encodeProducers(p.core.producers, 0)
}

// TestProducerStateRebuild fills a partition with several producers'
// batches over many segments, stops it in three ways and checks that the
// reopened partition holds the same producer state as the one that
// stopped, and acts on it: a retry of each producer's last batch is a
// duplicate at its offsets, the next sequence is stored, a gap refused.
func TestProducerStateRebuild(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(t *testing.T, ffs *errorfs.FaultFS, r *Registry)
	}{
		{"clean close", func(t *testing.T, ffs *errorfs.FaultFS, r *Registry) {
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"power loss", func(t *testing.T, ffs *errorfs.FaultFS, r *Registry) {
			ffs.Crash()
			ffs.SetHook(func(errorfs.Op, string) error { return errDead })
			r.Close()
			ffs.SetHook(nil)
		}},
		{"no snapshots", func(t *testing.T, ffs *errorfs.FaultFS, r *Registry) {
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			dir := partitionDir("/data", "t", 0)
			offs, err := listProducerSnaps(ffs, dir)
			if err != nil || len(offs) == 0 {
				t.Fatalf("snapshots %v, %v: want some to remove", offs, err)
			}
			for _, off := range offs {
				if err := ffs.Remove(filepath.Join(dir, producerSnapName(off))); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ffs, cfg, r := faultTopic(t, 1, nil) // 4 KiB segments
			p, _ := r.Partition("t", 0)
			last := map[int64][2]uint64{}
			seqs := map[int64]int32{}
			for i := 0; i < 300; i++ {
				pid := int64(i % 7)
				n := 1 + i%4
				if i%3 == 0 {
					if _, _, err := p.Append(context.Background(), []Record{{Value: []byte("plain")}}); err != nil {
						t.Fatal(err)
					}
				}
				base, end, err := appendIdem(t, p, pid, 2, seqs[pid], n)
				if err != nil {
					t.Fatal(err)
				}
				last[pid] = [2]uint64{base, end}
				seqs[pid] += int32(n)
			}
			if p.plog.Segments() < 5 {
				t.Fatalf("%d segments: the test wants many", p.plog.Segments())
			}
			// Under fsync always everything is synced: a power loss loses
			// nothing, but no clean-close snapshot is written.
			tt.stop(t, ffs, r)
			before := producerState(t, r)
			r, err := Open("/data", cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p, _ = r.Partition("t", 0)
			for pid, off := range last {
				n := int(off[1]-off[0]) + 1
				base, end, err := appendIdem(t, p, pid, 2, seqs[pid]-int32(n), n)
				if err != nil || base != off[0] || end != off[1] {
					t.Fatalf("producer %d: retry of its last batch: %d-%d, %v; want the stored %d-%d", pid, base, end, err, off[0], off[1])
				}
				if _, _, err := appendIdem(t, p, pid, 2, seqs[pid]+1, 1); !errors.Is(err, ErrOutOfOrderSequence) {
					t.Fatalf("producer %d: a gap after a restart: %v, want ErrOutOfOrderSequence", pid, err)
				}
				if _, _, err := appendIdem(t, p, pid, 1, seqs[pid], 1); !errors.Is(err, ErrInvalidProducerEpoch) {
					t.Fatalf("producer %d: an older epoch after a restart: %v, want ErrInvalidProducerEpoch", pid, err)
				}
			}
			r.Close()
			// The refused and duplicate batches changed nothing: the state
			// read back is the one that stopped.
			if after := producerState(t, r); !bytes.Equal(after, before) {
				t.Fatalf("producer state after the restart differs from before it")
			}
		})
	}
}

// TestProducerDedupeAfterPowerLoss is the crash between storing a batch
// and the client hearing of it: the batch is stored, the machine loses
// power before the answer reaches the producer, the broker restarts from
// what the disk kept, and the producer's retry of the same batch (same id,
// epoch and sequences) must come back with the offsets of the stored copy
// and not be stored twice; or, when the disk did not keep it, be stored
// once at the same offset.
func TestProducerDedupeAfterPowerLoss(t *testing.T) {
	for _, tt := range []struct {
		name     string
		fsync    FsyncMode
		keepTail bool // the crash keeps the written but unsynced bytes
		wantDup  bool
	}{
		{"fsync always", FsyncAlways, false, true},
		{"fsync never, written bytes survive", FsyncNever, true, true},
		{"fsync never, written bytes lost", FsyncNever, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ffs, cfg, r := faultTopic(t, 1, func(c *Config) { c.Fsync = tt.fsync })
			p, _ := r.Partition("t", 0)
			// Earlier batches, over a few rolls, so that the state comes
			// from a snapshot plus the active segment's headers.
			for seq := int32(0); seq < 60; seq += 2 {
				if _, _, err := appendIdem(t, p, 11, 0, seq, 2); err != nil {
					t.Fatal(err)
				}
			}
			if tt.fsync != FsyncAlways {
				if err := p.Sync(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			// The batch whose answer is lost: stored, then the power goes.
			stored := idemBatch(t, 11, 0, 60, 3, 1000)
			retry := bytes.Clone(stored)
			base, end, err := p.AppendBatch(context.Background(), stored)
			if err != nil {
				t.Fatal(err)
			}
			ffs.CrashWith(func(name string, durable, current []byte) []byte {
				if tt.keepTail {
					return current
				}
				return durable
			})
			ffs.SetHook(func(errorfs.Op, string) error { return errDead })
			r.Close()
			ffs.SetHook(nil)

			r, err = Open("/data", cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p, _ = r.Partition("t", 0)
			next := p.Stats().Next
			gotBase, gotEnd, err := p.AppendBatch(context.Background(), retry)
			if err != nil || gotBase != base || gotEnd != end {
				t.Fatalf("retry: %d-%d, %v; want %d-%d", gotBase, gotEnd, err, base, end)
			}
			if dup := p.Stats().Next == next; dup != tt.wantDup {
				t.Fatalf("retry taken as a duplicate: %v, want %v (next %d, was %d)", dup, tt.wantDup, p.Stats().Next, next)
			}
			recs := readAll(t, p, 0, 1<<20)
			if len(recs) != int(end)+1 {
				t.Fatalf("%d records stored, want %d: the batch is stored %s", len(recs), end+1, map[bool]string{true: "twice", false: "never"}[len(recs) > int(end)+1])
			}
			// And the producer goes on from there.
			if b, _, err := appendIdem(t, p, 11, 0, 63, 1); err != nil || b != end+1 {
				t.Fatalf("next batch: %d, %v; want %d", b, err, end+1)
			}
		})
	}
}

// TestProducerSnapshotRoundTrip: encode then decode gives the state back;
// every cut or flipped byte is refused.
func TestProducerSnapshotRoundTrip(t *testing.T) {
	ps := newProducers()
	for i := 0; i < 20; i++ {
		ps.replay(producerAppend{id: int64(i % 6), epoch: int16(i / 10), firstSeq: int32(i), count: 2, maxTs: int64(i)}, uint64(i*2), uint64(i*2+1))
	}
	b := encodeProducers(ps, 77)
	got, off, err := decodeProducers(b)
	if err != nil || off != 77 {
		t.Fatalf("decode: offset %d, %v", off, err)
	}
	if !bytes.Equal(encodeProducers(got, 77), b) {
		t.Fatal("decode(encode(state)) is another state")
	}
	for i := range b {
		if _, _, err := decodeProducers(b[:i]); !errors.Is(err, errBadProducerSnap) {
			t.Fatalf("a snapshot cut to %d bytes: %v", i, err)
		}
		c := bytes.Clone(b)
		c[i] ^= 0x40
		if _, _, err := decodeProducers(c); !errors.Is(err, errBadProducerSnap) {
			t.Fatalf("a snapshot with byte %d flipped: %v", i, err)
		}
	}
}

func FuzzDecodeProducers(f *testing.F) {
	ps := newProducers()
	ps.replay(producerAppend{id: 3, epoch: 1, firstSeq: 0, count: 4, maxTs: 9}, 0, 3)
	f.Add(encodeProducers(ps, 4))
	f.Add(encodeProducers(newProducers(), 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, off, err := decodeProducers(b)
		if err != nil {
			return
		}
		if again := encodeProducers(got, off); !bytes.Equal(again, b) {
			t.Fatalf("a snapshot that decodes does not encode back: %x", b)
		}
	})
}
