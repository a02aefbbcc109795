package partition

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/vfs"
)

// BenchmarkAckedAppend measures single-record appends acknowledged under each
// fsync mode, with 1 and 16 concurrent appenders. With "always", records/s at
// 16 appenders over records/s at 1 shows what group commit buys.
func BenchmarkAckedAppend(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncNever} {
		for _, appenders := range []int{1, 16} {
			b.Run(fmt.Sprintf("fsync=%s/appenders=%d", mode, appenders), func(b *testing.B) {
				p, done := benchPartition(b, mode, 64<<20)
				defer done()
				recs := []Record{{Value: make([]byte, 100)}}
				b.SetBytes(100)
				b.ResetTimer()
				var wg sync.WaitGroup
				per := b.N / appenders
				for a := 0; a < appenders; a++ {
					n := per
					if a == 0 {
						n += b.N % appenders
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < n; i++ {
							if _, _, err := p.Append(context.Background(), recs); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkAppend is the whole append path (encode, actor, group commit,
// write, sync per mode) for each record size, batch size and fsync mode.
// Compare with BenchmarkPlainFile, the same bytes written to a plain file.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, batch := range []int{1, 100, 1000} {
			for _, mode := range []FsyncMode{FsyncNever, FsyncInterval, FsyncAlways} {
				b.Run(fmt.Sprintf("rec=%d/batch=%d/fsync=%s", size, batch, mode), func(b *testing.B) {
					p, done := benchPartition(b, mode, 256<<20)
					defer done()
					recs := make([]Record, batch)
					for i := range recs {
						recs[i].Value = make([]byte, size)
					}
					b.SetBytes(int64(size * batch))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, _, err := p.Append(context.Background(), recs); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer() // not the final sync in Close
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
				})
			}
		}
	}
}

// BenchmarkPlainFile is the baseline for BenchmarkAppend: the same payload
// bytes per operation written to a growing os.File, with and without fdatasync.
func BenchmarkPlainFile(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, batch := range []int{1, 100, 1000} {
			for _, sync := range []bool{false, true} {
				b.Run(fmt.Sprintf("rec=%d/batch=%d/sync=%v", size, batch, sync), func(b *testing.B) {
					f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
					if err != nil {
						b.Fatal(err)
					}
					defer f.Close()
					buf := make([]byte, size*batch)
					var pos int64
					b.SetBytes(int64(len(buf)))
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if pos > 256<<20 {
							b.StopTimer()
							f.Truncate(0)
							pos = 0
							b.StartTimer()
						}
						if _, err := f.WriteAt(buf, pos); err != nil {
							b.Fatal(err)
						}
						pos += int64(len(buf))
						if sync {
							if err := vfs.Datasync(f); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
				})
			}
		}
	}
}

// BenchmarkRead is sequential catch-up reads of 100 B records in 1 MiB batches.
func BenchmarkRead(b *testing.B) {
	p, done := benchPartition(b, FsyncNever, 64<<20)
	defer done()
	ctx := context.Background()
	recs := make([]Record, 1000)
	for i := range recs {
		recs[i].Value = make([]byte, 100)
	}
	const total = 200_000
	for i := 0; i < total/1000; i++ {
		if _, _, err := p.Append(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var records, bytes int
	for i := 0; i < b.N; i++ {
		off := uint64(0)
		for off < total {
			batch, err := p.Read(ctx, off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			off = batch.Next
			records += batch.Count
			bytes += len(batch.Data)
		}
	}
	b.SetBytes(int64(bytes / b.N))
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendConcurrent is BenchmarkAppend with 1,000 x 100 B batches
// from 4 appenders to one partition, as a broker sees them from concurrent
// produce calls: encoding on the callers' goroutines overlaps the actor's
// writes.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncNever, FsyncAlways} {
		b.Run("fsync="+mode.String(), func(b *testing.B) {
			p, done := benchPartition(b, mode, 256<<20)
			defer done()
			b.SetBytes(100 * 1000)
			b.ReportAllocs()
			b.SetParallelism(2) // 2 x GOMAXPROCS appenders
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				recs := make([]Record, 1000)
				for i := range recs {
					recs[i].Value = make([]byte, 100)
				}
				for pb.Next() {
					if _, _, err := p.Append(context.Background(), recs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// benchPartition opens a one-partition topic for a benchmark, with 4 KiB
// index intervals; done closes it.
func benchPartition(b *testing.B, mode FsyncMode, segmentBytes int64) (*Partition, func()) {
	cfg := testConfig()
	cfg.SegmentBytes = segmentBytes
	cfg.IndexIntervalBytes = 4096
	cfg.Fsync = mode
	r := openTest(b, b.TempDir(), cfg)
	if _, err := r.CreateTopic(context.Background(), "b", 1); err != nil {
		b.Fatal(err)
	}
	p, err := r.Partition("b", 0)
	if err != nil {
		b.Fatal(err)
	}
	return p, func() { r.Close() }
}

// BenchmarkAppendKafkaBatch is a Kafka producer's batch of 1,000 100-byte
// records, uncompressed and lz4, taken as the network gives it: validated,
// appended by the actor (base offset set, no re-encoding), and read back as
// the stored bytes a Kafka fetch would send. Two floors for the same bytes:
// memcpy (copied in and out once each) and file (copied in, written to a
// file with one pwrite, read back with one pread), which is what storing
// and reading without re-encoding cannot go below.
func BenchmarkAppendKafkaBatch(b *testing.B) {
	for _, c := range []batch.Compression{batch.None, batch.LZ4} {
		sent := kafkaBatch(b, 1000, 100, c)
		b.Run("memcpy/"+c.String(), func(b *testing.B) {
			in, out := make([]byte, len(sent)), make([]byte, len(sent))
			b.SetBytes(int64(len(sent)))
			for range b.N {
				copy(in, sent)
				copy(out, in)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
		b.Run("file/"+c.String(), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			out := make([]byte, len(sent))
			b.SetBytes(int64(len(sent)))
			var at int64
			for range b.N {
				in := append(make([]byte, 0, len(sent)), sent...)
				if _, err := f.WriteAt(in, at); err != nil {
					b.Fatal(err)
				}
				if _, err := f.ReadAt(out, at); err != nil {
					b.Fatal(err)
				}
				if at += int64(len(sent)); at > 256<<20 {
					at = 0
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
		b.Run("append+read/"+c.String(), func(b *testing.B) {
			p, done := benchPartition(b, FsyncNever, 256<<20)
			defer done()
			ctx := context.Background()
			buf := make([]byte, 0, 2<<20)
			b.SetBytes(int64(len(sent)))
			b.ReportAllocs()
			for range b.N {
				in := append(make([]byte, 0, len(sent)), sent...) // the network's buffer
				base, _, err := p.AppendBatch(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				got, err := p.ReadInto(ctx, buf, base, len(sent))
				if err != nil || len(got.Data) != len(sent) {
					b.Fatalf("read %d bytes, %v", len(got.Data), err)
				}
				buf = got.Data[:0]
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
		})
	}
}
