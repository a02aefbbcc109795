package partition

import (
	"errors"
	"math"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/logbroker/logbroker/vfs/errorfs"
)

// TestInitProducerID: new producers get new ids at epoch 0; a known
// producer's id and epoch give the next epoch (KIP-360); an exhausted
// epoch or an id never given gets a new id.
func TestInitProducerID(t *testing.T) {
	_, _, r := faultTopic(t, 1, nil)
	defer r.Close()
	for i, tt := range []struct {
		id        int64
		epoch     int16
		wantID    int64
		wantEpoch int16
	}{
		{-1, -1, 0, 0},
		{-1, -1, 1, 0},
		{0, 0, 0, 1},
		{0, 5, 0, 6},
		{1, math.MaxInt16 - 2, 1, math.MaxInt16 - 1},
		{1, math.MaxInt16 - 1, 2, 0}, // the epoch would reach the maximum
		{500, 0, 3, 0},               // never given
		{-1, 3, 4, 0},
	} {
		id, epoch, err := r.InitProducerID(tt.id, tt.epoch)
		if err != nil || id != tt.wantID || epoch != tt.wantEpoch {
			t.Errorf("%d: InitProducerID(%d, %d) = %d, %d, %v; want %d, %d", i, tt.id, tt.epoch, id, epoch, err, tt.wantID, tt.wantEpoch)
		}
	}
}

// TestProducerIDsNeverRepeat: across clean restarts, power losses and
// block boundaries no id is given twice; a block that cannot be reserved
// gives no id; a closed registry gives none.
func TestProducerIDsNeverRepeat(t *testing.T) {
	ffs, cfg, r := faultTopic(t, 1, nil)
	seen := map[int64]bool{}
	take := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			id, epoch, err := r.InitProducerID(-1, -1)
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] || epoch != 0 {
				t.Fatalf("id %d epoch %d: given twice", id, epoch)
			}
			seen[id] = true
		}
	}
	reopen := func() {
		t.Helper()
		var err error
		if r, err = Open("/data", cfg); err != nil {
			t.Fatal(err)
		}
	}
	take(ProducerIDBlock + 5) // crosses a block
	r.Close()
	reopen()
	take(3)
	ffs.Crash()
	ffs.SetHook(func(errorfs.Op, string) error { return errDead })
	r.Close()
	ffs.SetHook(nil)
	reopen()
	take(2)
	// No block can be reserved: no id is given, and the failure is said.
	used := len(seen)
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if filepath.Base(name) == producerIDFile+".tmp" {
			return syscall.EIO
		}
		return nil
	})
	for {
		id, _, err := r.InitProducerID(-1, -1)
		if err != nil {
			if !errors.Is(err, ErrProducerIDs) {
				t.Fatalf("a failed reservation: %v, want ErrProducerIDs", err)
			}
			break
		}
		if seen[id] {
			t.Fatalf("id %d given twice", id)
		}
		seen[id] = true
		used++
		if used > 4*ProducerIDBlock {
			t.Fatal("ids handed out with no block reserved")
		}
	}
	ffs.SetHook(nil)
	r.Close()
	if _, _, err := r.InitProducerID(-1, -1); !errors.Is(err, ErrStopped) {
		t.Fatalf("closed registry: %v, want ErrStopped", err)
	}
	reopen()
	defer r.Close()
	take(1)
}
