package partition

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/segment"
)

// BenchmarkOpenProducerState measures what rebuilding the producer state
// adds to opening a partition of 1 GiB (16 segments of 64 MiB, batches of
// 16 KiB from 8 idempotent producers), with the clean-close snapshot and
// with no snapshot (every batch header of the log replayed):
//
//	go test -run '^$' -bench OpenProducerState -benchtime 5x ./partition/
func BenchmarkOpenProducerState(b *testing.B) {
	dir := b.TempDir()
	cfg, err := Config{SegmentBytes: 64 << 20, Fsync: FsyncNever, Logger: zerolog.Nop()}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	r, err := Open(dir, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.CreateTopic(context.Background(), "t", 1); err != nil {
		b.Fatal(err)
	}
	p, _ := r.Partition("t", 0)
	seqs := map[int64]int32{}
	const recs = 16
	for i := 0; p.Stats().SizeBytes < 1<<30; i++ {
		pid := int64(i % 8)
		bt := idemBatchSized(pid, seqs[pid], recs, 1024)
		seqs[pid] += recs
		if _, _, err := p.AppendBatch(context.Background(), bt); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	pdir := partitionDir(dir, "t", 0)
	snaps, _ := listProducerSnaps(cfg.FS, pdir)
	for _, tt := range []struct {
		name  string
		setup func()
	}{
		{"snapshot", func() {}},
		{"roll-snapshot", func() { // as after a crash: the active segment is replayed
			os.Remove(filepath.Join(pdir, producerSnapName(snaps[0])))
		}},
		{"no-snapshot", func() {
			for _, off := range snaps {
				os.Remove(filepath.Join(pdir, producerSnapName(off)))
			}
		}},
	} {
		tt.setup()
		b.Run(tt.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l, _, _, err := openLog(pdir, &cfg, segment.NewFileCache(cfg.FS, 64), cfg.Logger, true, false)
				if err != nil {
					b.Fatal(err)
				}
				ps, ld, err := loadProducers(l)
				if err != nil || len(ps.m) != 8 {
					b.Fatalf("%d producers, %v", len(ps.m), err)
				}
				b.ReportMetric(float64(ld.batches), "headers/op")
				b.ReportMetric(float64(l.Size())/(1<<20), "MiB")
				l.Close()
			}
		})
	}
}

// idemBatchSized is an idempotent producer's batch of n records of size
// bytes each, epoch 0.
func idemBatchSized(pid int64, seq int32, n, size int) []byte {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Value: make([]byte, size), TimestampMs: 1000}
	}
	out := encode(recs).Bytes()
	batch.SetProducer(out, pid, 0, seq)
	return out
}
