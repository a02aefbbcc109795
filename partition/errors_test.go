package partition

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want error // nil: passed through unchanged
	}{
		{"ENOSPC", syscall.ENOSPC, ErrDiskFull},
		{"EDQUOT", syscall.EDQUOT, ErrDiskFull},
		{"EMFILE", syscall.EMFILE, ErrTooManyOpenFiles},
		{"ENFILE", syscall.ENFILE, ErrTooManyOpenFiles},
		{"wrapped ENOSPC", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, ErrDiskFull},
		{"EIO", syscall.EIO, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.err)
			if !errors.Is(got, tt.err) {
				t.Fatalf("Classify(%v) = %v, lost the original", tt.err, got)
			}
			if tt.want == nil {
				if got != tt.err {
					t.Fatalf("Classify(%v) = %v, want it unchanged", tt.err, got)
				}
				return
			}
			if !errors.Is(got, tt.want) {
				t.Fatalf("Classify(%v) = %v, want it to wrap %v", tt.err, got, tt.want)
			}
		})
	}
	if Classify(nil) != nil {
		t.Fatal("Classify(nil) is not nil")
	}
}
