package partition

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logbroker/logbroker/vfs"
)

// producerIDFile, in the data directory, holds the end of the last block
// of producer ids reserved: "producer-ids <end>\n". Ids are handed out from
// a block in memory; a new block is reserved, and this file rewritten and
// synced, before the first id of it is handed out. So an id is never given
// twice, across restarts and crashes alike (a crash loses at most the rest
// of a block), as Kafka's producer-id blocks in its metadata log.
const producerIDFile = "producer-ids"

const producerIDPrefix = "producer-ids "

// ProducerIDBlock is how many producer ids one reservation covers.
const ProducerIDBlock = 1000

// ErrProducerIDs reports that no producer id could be reserved.
var ErrProducerIDs = errors.New("partition: cannot reserve producer ids")

// producerIDs is the allocator's state, guarded by Registry.pidMu.
type producerIDs struct {
	loaded    bool
	next, end int64 // ids in [next, end) are reserved and not yet given
}

// InitProducerID gives an idempotent producer its id and epoch, as Kafka's
// InitProducerId does for a producer without a transactional id. With id
// and epoch < 0 it is a new producer: a new id, epoch 0. With the id and
// epoch of a producer this broker gave an id to (KIP-360: a producer that
// must reset its sequences), the same id at the next epoch, which fences
// the older epoch in every partition it writes next; a new id once the
// epoch would reach math.MaxInt16, as Kafka does, or when the id is not
// one this broker gave.
func (r *Registry) InitProducerID(id int64, epoch int16) (int64, int16, error) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		// The data directory may belong to another broker by now.
		return 0, 0, fmt.Errorf("%w: broker storage is closed: %w", ErrProducerIDs, ErrStopped)
	}
	r.pidMu.Lock()
	defer r.pidMu.Unlock()
	a := &r.pids
	if !a.loaded {
		end, err := readProducerIDs(r.cfg.FS, r.dir)
		if err != nil {
			return 0, 0, err
		}
		a.next, a.end, a.loaded = end, end, true
	}
	if id >= 0 && epoch >= 0 && id < a.next && epoch < math.MaxInt16-1 {
		return id, epoch + 1, nil
	}
	if a.next == a.end {
		if a.end > math.MaxInt64-ProducerIDBlock {
			return 0, 0, fmt.Errorf("%w: every id is used", ErrProducerIDs)
		}
		end := a.end + ProducerIDBlock
		data := []byte(producerIDPrefix + strconv.FormatInt(end, 10) + "\n")
		if err := writeSynced(r.cfg.FS, r.dir, producerIDFile, data); err != nil {
			return 0, 0, fmt.Errorf("%w: %w", ErrProducerIDs, err)
		}
		a.end = end
	}
	id = a.next
	a.next++
	return id, 0, nil
}

// readProducerIDs returns the end of the last reserved block: 0 when none
// was ever reserved.
func readProducerIDs(fsys vfs.FS, dir string) (int64, error) {
	name := filepath.Join(dir, producerIDFile)
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: read %s: %w", ErrProducerIDs, name, Classify(err))
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%w: read %s: %w", ErrProducerIDs, name, Classify(err))
	}
	// The file is replaced whole (written aside, renamed): anything else
	// in it is not ours, and guessing could give an id twice.
	s, ok := strings.CutPrefix(string(buf[:n]), producerIDPrefix)
	s, nl := strings.CutSuffix(s, "\n")
	end, perr := strconv.ParseInt(s, 10, 64)
	if !ok || !nl || perr != nil || end < 0 {
		return 0, fmt.Errorf("%w: %s holds %q, want %q and a number", ErrProducerIDs, name, buf[:n], producerIDPrefix)
	}
	return end, nil
}
