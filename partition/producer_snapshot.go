package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/vfs"
)

// The producer state comes back from the log itself: the batch headers
// carry each batch's producer id, epoch and sequences, so replaying them
// in offset order rebuilds it exactly (producers.replay). Replaying a whole
// log at every start would cost a read of it, so, as Kafka does, the state
// is also written to a small snapshot file, "<offset>.producers", holding
// the state as of that offset:
//
//   - at every segment roll, at the new segment's base (the sealed segment
//     is synced by then), so a start after a crash replays only the active
//     segment's headers;
//   - at a clean close, at the log's end, so a clean start replays nothing.
//
// Open loads the newest snapshot at or below the log's end that reads
// whole and replays the headers from its offset; without one (a directory
// from an earlier release, or snapshots lost) it replays the whole log.
// The newest two snapshots are kept. A snapshot that cannot be written is
// logged, not fatal: the next start replays more.
//
// Format, big-endian, with a CRC-32C of everything before it at the end:
//
//	"LBPS" | version u8 (1) | offset u64 | producers u32 |
//	  per producer: id i64 | epoch i16 | last timestamp i64 | batches u8 |
//	    per batch: first seq i32 | last seq i32 | first offset u64 | last offset u64
//	| crc u32
const (
	producerSnapSuffix  = ".producers"
	producerSnapMagic   = "LBPS"
	producerSnapVersion = 1
	producerSnapKeep    = 2
	producerSnapMax     = 64 << 20 // bounds what a damaged file makes us allocate
)

var producerCRC = crc32.MakeTable(crc32.Castagnoli)

func producerSnapName(offset uint64) string {
	return fmt.Sprintf("%020d%s", offset, producerSnapSuffix)
}

// encodeProducers is the snapshot of ps at offset; producers in id order,
// so equal states make equal files.
func encodeProducers(ps *producers, offset uint64) []byte {
	ids := make([]int64, 0, len(ps.m))
	for id := range ps.m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	be := binary.BigEndian
	b := make([]byte, 0, 17+len(ids)*(19+maxProducerBatches*24)+4)
	b = append(b, producerSnapMagic...)
	b = append(b, producerSnapVersion)
	b = be.AppendUint64(b, offset)
	b = be.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := ps.m[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint64(b, uint64(e.lastTs))
		b = append(b, byte(e.n))
		for _, pb := range e.batches[:e.n] {
			b = be.AppendUint32(b, uint32(pb.firstSeq))
			b = be.AppendUint32(b, uint32(pb.lastSeq))
			b = be.AppendUint64(b, pb.firstOff)
			b = be.AppendUint64(b, pb.lastOff)
		}
	}
	return be.AppendUint32(b, crc32.Checksum(b, producerCRC))
}

var errBadProducerSnap = errors.New("partition: bad producer snapshot")

// decodeProducers reads a snapshot; anything malformed wraps
// errBadProducerSnap.
func decodeProducers(b []byte) (*producers, uint64, error) {
	be := binary.BigEndian
	if len(b) < 21 || string(b[:4]) != producerSnapMagic {
		return nil, 0, fmt.Errorf("%w: no header", errBadProducerSnap)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, producerCRC) != be.Uint32(b[len(b)-4:]) {
		return nil, 0, fmt.Errorf("%w: crc mismatch", errBadProducerSnap)
	}
	if body[4] != producerSnapVersion {
		return nil, 0, fmt.Errorf("%w: version %d", errBadProducerSnap, body[4])
	}
	offset := be.Uint64(body[5:])
	count := be.Uint32(body[13:])
	p := body[17:]
	if uint64(count)*19 > uint64(len(p)) {
		return nil, 0, fmt.Errorf("%w: %d producers in %d bytes", errBadProducerSnap, count, len(p))
	}
	ps := &producers{m: make(map[int64]producerEntry, count)}
	for i := uint32(0); i < count; i++ {
		if len(p) < 19 {
			return nil, 0, fmt.Errorf("%w: producer %d cut short", errBadProducerSnap, i)
		}
		id := int64(be.Uint64(p))
		e := producerEntry{epoch: int16(be.Uint16(p[8:])), lastTs: int64(be.Uint64(p[10:])), n: int(p[18])}
		p = p[19:]
		if e.n > maxProducerBatches || len(p) < e.n*24 {
			return nil, 0, fmt.Errorf("%w: producer %d: %d batches", errBadProducerSnap, id, e.n)
		}
		for j := 0; j < e.n; j++ {
			e.batches[j] = producerBatch{
				firstSeq: int32(be.Uint32(p)), lastSeq: int32(be.Uint32(p[4:])),
				firstOff: be.Uint64(p[8:]), lastOff: be.Uint64(p[16:]),
			}
			p = p[24:]
		}
		if _, dup := ps.m[id]; dup || id < 0 {
			return nil, 0, fmt.Errorf("%w: producer id %d", errBadProducerSnap, id)
		}
		ps.m[id] = e
	}
	if len(p) != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes after the producers", errBadProducerSnap, len(p))
	}
	return ps, offset, nil
}

// listProducerSnaps returns the offsets of the snapshots in dir, newest first.
func listProducerSnaps(fsys vfs.FS, dir string) ([]uint64, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("partition: list %s: %w", dir, Classify(err))
	}
	var offs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), producerSnapSuffix)
		if !ok || len(name) != 20 {
			continue
		}
		var off uint64
		if _, err := fmt.Sscanf(name, "%020d", &off); err == nil && producerSnapName(off) == e.Name() {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] > offs[j] })
	return offs, nil
}

func readProducerSnap(fsys vfs.FS, path string) (*producers, uint64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, 0, err
	}
	if size > producerSnapMax {
		return nil, 0, fmt.Errorf("%w: %d bytes", errBadProducerSnap, size)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	return decodeProducers(b)
}

// writeProducerSnap writes the snapshot of ps at offset into l's directory,
// durably, and removes all but the newest producerSnapKeep.
func writeProducerSnap(l *Log, ps *producers, offset uint64) error {
	fsys := l.cfg.FS
	if err := writeSynced(fsys, l.dir, producerSnapName(offset), encodeProducers(ps, offset)); err != nil {
		return err
	}
	offs, err := listProducerSnaps(fsys, l.dir)
	if err != nil {
		return err
	}
	for _, off := range offs[min(len(offs), producerSnapKeep):] {
		if err := fsys.Remove(filepath.Join(l.dir, producerSnapName(off))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("partition: remove old producer snapshot: %w", Classify(err))
		}
	}
	return nil
}

// producerLoad says how the producer state of a partition came back.
type producerLoad struct {
	snapshot  bool   // from a snapshot
	from      uint64 // the offset the header replay started at
	batches   int    // batch headers replayed
	producers int
	took      time.Duration
}

// loadProducers rebuilds the producer state of l: the newest usable
// snapshot, then the batch headers from its offset to the end. Only a
// failure to list the directory is an error.
func loadProducers(l *Log) (*producers, producerLoad, error) {
	start := time.Now()
	fsys := l.cfg.FS
	offs, err := listProducerSnaps(fsys, l.dir)
	if err != nil {
		return nil, producerLoad{}, err
	}
	ps, ld := newProducers(), producerLoad{from: l.LogStart()}
	for _, off := range offs {
		path := filepath.Join(l.dir, producerSnapName(off))
		if off > l.Next() {
			// Past the log's end: written for data that a damaged disk
			// has since lost. It describes nothing we hold.
			l.logger.Warn().Uint64("snapshot_offset", off).Uint64("next_offset", l.Next()).Msg("ignoring a producer snapshot past the log's end")
			continue
		}
		got, at, err := readProducerSnap(fsys, path)
		if err != nil || at != off {
			l.logger.Warn().Err(err).Str("file", path).Msg("ignoring an unreadable producer snapshot")
			continue
		}
		ps, ld.snapshot, ld.from = got, true, max(off, l.LogStart())
		break
	}
	err = l.WalkHeaders(ld.from, func(h batch.Header) {
		ld.batches++
		if h.ProducerID >= 0 && !h.Control() {
			a := producerAppend{id: h.ProducerID, epoch: h.ProducerEpoch, firstSeq: h.BaseSequence, count: h.NumRecords, maxTs: h.MaxTimestamp}
			ps.replay(a, h.BaseOffset, h.Next()-1)
		}
	})
	if err != nil {
		// Recovery has already cut a torn tail and reported damage; a
		// header that still cannot be walked costs only the producers'
		// state past it, whose next batches are then taken as unknown
		// producers' (any sequence), as after their expiry.
		l.logger.Error().Err(err).Int("batches", ld.batches).Msg("producer state rebuilt only up to a damaged batch header")
	}
	ld.producers = len(ps.m)
	ld.took = time.Since(start)
	return ps, ld, nil
}
