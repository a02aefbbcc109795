package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logbroker/logbroker/vfs"
)

var benchRecordSizes = []int{100, 1024}

// benchFrame builds one batch of batch records of size value bytes.
func benchFrame(b *testing.B, batch, size int) []byte {
	recs := make([]rec, batch)
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i)
	}
	for i := range recs {
		recs[i] = rec{key: []byte("key-0001"), value: value, ts: 1700000000000}
	}
	return frameOf(b, 0, recs...)
}

const benchSegmentBytes = 64 << 20

// BenchmarkAppend measures what an actor does per produce request once the
// batch is built: set its base offset (outside the CRC), Append, and
// optionally Sync. Segments roll at 64 MiB outside the timer.
func BenchmarkAppend(b *testing.B) {
	for _, size := range benchRecordSizes {
		for _, batch := range []int{1, 100, 1000} {
			for _, sync := range []bool{false, true} {
				b.Run(fmt.Sprintf("rec=%d/batch=%d/sync=%v", size, batch, sync), func(b *testing.B) {
					frame := benchFrame(b, batch, size)
					bs := newBenchSegment(b)
					b.SetBytes(int64(len(frame)))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						bs.appendFrame(frame, batch, sync)
					}
					b.StopTimer()
				})
			}
		}
	}
}

// BenchmarkSyncedAppend is an append of one 1,000 x 100 B frame (123 KB)
// or one 100 B record, each followed by Sync, into a file that grows with
// every append (prealloc=0) or into zeros written ahead (PreallocateBytes).
func BenchmarkSyncedAppend(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		for _, prealloc := range []int64{0, 1 << 20, 4 << 20} {
			b.Run(fmt.Sprintf("batch=%d/prealloc=%d", batch, prealloc), func(b *testing.B) {
				frame := benchFrame(b, batch, 100)
				bs := newBenchSegmentWith(b, Options{MaxBytes: benchSegmentBytes, PreallocateBytes: prealloc})
				b.SetBytes(int64(len(frame)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					bs.appendFrame(frame, batch, true)
				}
			})
		}
	}
}

// BenchmarkAppendOnly is Append alone: only the frame header's base is
// patched (the CRC goes stale; nothing reads the file).
func BenchmarkAppendOnly(b *testing.B) {
	for _, size := range benchRecordSizes {
		for _, batch := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("rec=%d/batch=%d", size, batch), func(b *testing.B) {
				frame := benchFrame(b, batch, size)
				bs := newBenchSegment(b)
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s := bs.room(len(frame))
					binary.LittleEndian.PutUint64(frame[offBase:], s.Next())
					if err := s.Append(frame); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
			})
		}
	}
}

// BenchmarkOSFileBaseline writes the same bytes as BenchmarkAppend with a
// plain os.File WriteAt (and fdatasync, as Segment.Sync does), rolling files
// at the same size: the floor Append is measured against.
func BenchmarkOSFileBaseline(b *testing.B) {
	for _, size := range benchRecordSizes {
		for _, batch := range []int{1, 100, 1000} {
			for _, sync := range []bool{false, true} {
				b.Run(fmt.Sprintf("rec=%d/batch=%d/sync=%v", size, batch, sync), func(b *testing.B) {
					frame := benchFrame(b, batch, size)
					dir := b.TempDir()
					n := 0
					open := func() *os.File {
						f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(n)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
						if err != nil {
							b.Fatal(err)
						}
						n++
						return f
					}
					f, pos := open(), int64(0)
					b.SetBytes(int64(len(frame)))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if ShouldRoll(pos, int64(len(frame)), benchSegmentBytes) {
							b.StopTimer()
							f.Close()
							os.Remove(f.Name())
							f, pos = open(), 0
							b.StartTimer()
						}
						if _, err := f.WriteAt(frame, pos); err != nil {
							b.Fatal(err)
						}
						pos += int64(len(frame))
						if sync {
							if err := vfs.Datasync(f); err != nil {
								b.Fatal(err)
							}
						}
					}
					b.StopTimer()
					f.Close()
				})
			}
		}
	}
}

// BenchmarkViewRead reads a 16 MiB sealed segment front to back in 1 MiB
// batches (Locate + View + Read, CRC checked), from the page cache.
func BenchmarkViewRead(b *testing.B) {
	for _, size := range benchRecordSizes {
		b.Run(fmt.Sprintf("rec=%d", size), func(b *testing.B) {
			frame := benchFrame(b, 100, size)
			c := NewFileCache(vfs.OS, 8)
			s, err := Create(c, b.TempDir(), 0, Options{MaxBytes: benchSegmentBytes})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Remove()
			for s.Size() < 16<<20 {
				setBase(frame, s.Next())
				if err := s.Append(frame); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Seal(); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 2<<20)
			b.SetBytes(s.Size())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for off := s.Base(); off < s.Next(); {
					pos, err := s.Locate(off)
					if err != nil {
						b.Fatal(err)
					}
					v, err := s.View(pos)
					if err != nil {
						b.Fatal(err)
					}
					data, _, next, err := v.Read(buf, off, 1<<20)
					v.Release()
					if err != nil || len(data) == 0 {
						b.Fatal(errors.Join(err, errors.New("no data")))
					}
					buf, off = data, next
				}
			}
		})
	}
}

// benchSegment is a segment that rolls (outside the timer) when full.
type benchSegment struct {
	b   *testing.B
	c   *FileCache
	dir string
	o   Options
	s   *Segment
}

func newBenchSegment(b *testing.B) *benchSegment {
	return newBenchSegmentWith(b, Options{MaxBytes: benchSegmentBytes})
}

func newBenchSegmentWith(b *testing.B, o Options) *benchSegment {
	bs := &benchSegment{b: b, c: NewFileCache(vfs.OS, 8), dir: b.TempDir(), o: o}
	var err error
	if bs.s, err = Create(bs.c, bs.dir, 0, bs.o); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bs.s.Remove() })
	return bs
}

// appendFrame does what an actor does per produce request once the batch
// is built: set its base offset, Append, optionally Sync.
func (bs *benchSegment) appendFrame(frame []byte, batch int, sync bool) {
	s := bs.room(len(frame))
	next := s.Next()
	setBase(frame, next)
	if err := s.Append(frame); err != nil {
		bs.b.Fatal(err)
	}
	if sync {
		if err := s.Sync(); err != nil {
			bs.b.Fatal(err)
		}
	}
}

// room returns the segment to append n bytes to, rolling first if needed.
func (bs *benchSegment) room(n int) *Segment {
	if !ShouldRoll(bs.s.Size(), int64(n), bs.o.MaxBytes) {
		return bs.s
	}
	bs.b.StopTimer()
	defer bs.b.StartTimer()
	next := bs.s.Next()
	if err := bs.s.Remove(); err != nil {
		bs.b.Fatal(err)
	}
	var err error
	if bs.s, err = Create(bs.c, bs.dir, next, bs.o); err != nil {
		bs.b.Fatal(err)
	}
	return bs.s
}

// BenchmarkFillAndSeal fills a 64 MiB segment with 1,000 x 100 B frames and
// seals it, as a roll does, with and without WritebackBytes. seal-ms is the
// Seal alone: what a partition's producers wait for at a roll.
func BenchmarkFillAndSeal(b *testing.B) {
	for _, wb := range []int64{0, 1 << 20} {
		b.Run(fmt.Sprintf("writeback=%d", wb), func(b *testing.B) {
			frame := benchFrame(b, 1000, 100)
			c := NewFileCache(vfs.OS, 8)
			var seal time.Duration
			for i := 0; i < b.N; i++ {
				s, err := Create(c, b.TempDir(), 0, Options{MaxBytes: benchSegmentBytes, WritebackBytes: wb})
				if err != nil {
					b.Fatal(err)
				}
				for !ShouldRoll(s.Size(), int64(len(frame)), benchSegmentBytes) {
					next := s.Next()
					setBase(frame, next)
					if err := s.Append(frame); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				if err := s.Seal(); err != nil {
					b.Fatal(err)
				}
				seal += time.Since(start)
				b.SetBytes(s.Size())
				if err := s.Remove(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(seal.Microseconds())/1000/float64(b.N), "seal-ms")
		})
	}
}
