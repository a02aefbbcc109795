package segment

import (
	"bytes"
	"os"
	"testing"

	"github.com/logbroker/logbroker/vfs"
)

// wbFS is the real file system with every StartWriteback call recorded.
type wbFS struct {
	vfs.FS
	calls *[][2]int64
}

func (w wbFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := w.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return wbFile{f, w.calls}, nil
}

type wbFile struct {
	vfs.File
	calls *[][2]int64
}

func (f wbFile) StartWriteback(off, n int64) error {
	*f.calls = append(*f.calls, [2]int64{off, n})
	return f.File.(vfs.Writebacker).StartWriteback(off, n)
}

// TestWriteback: with WritebackBytes, write-back starts on consecutive
// ranges of at least WritebackBytes that cover the data in order, the data
// reads back unchanged, and without the option nothing is started.
func TestWriteback(t *testing.T) {
	for _, tt := range []struct {
		name      string
		writeback int64
		wantCalls bool
	}{
		{"off", 0, false},
		{"every 1000 bytes", 1000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls [][2]int64
			c := NewFileCache(wbFS{FS: vfs.OS, calls: &calls}, 4)
			dir := t.TempDir()
			o := Options{IndexIntervalBytes: 200, MaxBytes: 1 << 20, WritebackBytes: tt.writeback}
			s, l := buildSegment(t, c, dir, 0, o, 40, 3, 50)
			defer s.Close()
			if !tt.wantCalls {
				if len(calls) != 0 {
					t.Fatalf("write-back started %d times with the option off", len(calls))
				}
				return
			}
			if len(calls) == 0 {
				t.Fatalf("no write-back started for %d bytes", s.Size())
			}
			at := int64(0)
			for i, c := range calls {
				if c[0] != at || c[1] < tt.writeback {
					t.Fatalf("call %d: range [%d, +%d), want from %d and at least %d bytes", i, c[0], c[1], at, tt.writeback)
				}
				at += c[1]
			}
			if at > s.Size() || s.Size()-at >= tt.writeback {
				t.Fatalf("write-back covered %d of %d bytes; want all but under %d", at, s.Size(), tt.writeback)
			}
			got, err := readAll(t, s, 0, 1<<20)
			if err != nil || !bytes.Equal(got, l.want(0)) {
				t.Fatalf("read %d bytes, want %d: %v", len(got), len(l.want(0)), err)
			}
		})
	}
}
