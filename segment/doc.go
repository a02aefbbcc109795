// Package segment owns the on-disk format of one log segment: record
// encoding, frames, the .log and .index files, the recovery scan, the roll
// decision, and the FileCache that caps open files. Files are reached through
// vfs.FS (vfs.OS, or errorfs.FaultFS for fault injection).
//
// Concurrency: a *Segment is NOT safe for concurrent use; one owner (the
// partition actor) calls all its methods. A *View may be read from one other
// goroutine: the bytes it covers never change, and it keeps its file readable
// until Release, even after the segment is removed. FileCache is safe
// for concurrent use. The package starts no goroutines.
//
// Files: <dir>/<base offset, 20 digits>.log and .index.
//
// A .log is a sequence of frames; one frame is one appended batch (one
// produce request). Integers are little-endian.
//
//	 0      4      8   9   10     12      16            24            32
//	+------+------+---+---+------+-------+-------------+-------------+---------+
//	| len  | crc  | m | f | rsvd | count | base offset | max ts (ms) | payload |
//	+------+------+---+---+------+-------+-------------+-------------+---------+
//	  len   = bytes after the len field (28 + payload)
//	  crc   = CRC-32C (Castagnoli) of bytes [8, 4+len)
//	  m = magic 1, f = flags 0, rsvd = 0, count >= 1
//
// The payload is count records, each exactly the protobuf encoding of one
// EntryBatch.entries element, so a run of records is a valid EntryBatch and is
// served without re-encoding:
//
//	0x0a varint(n) LogEntry{
//	    0x08 offset as an 8-byte varint (fixed width, patched in place)
//	    0x12 varint key                    (omitted if empty)
//	    0x1a varint value                  (omitted if empty)
//	    0x22 varint Header{0x0a varint key, 0x12 varint value}  per header
//	    0x28 varint(uint64(timestamp_ms))  (omitted if 0)
//	}
//
// A .index is an array of 8-byte entries {u32 offset - base, u32 position},
// one for the first frame and then one whenever IndexIntervalBytes of log were
// written since the last entry. It is a hint: it is validated on load, checked
// at lookup, and rebuilt from the .log whenever it does not fit.
//
// Recovery (Open with Recover) checks every frame's header, base continuity
// and CRC from the start and truncates the .log at the first frame that fails:
// an unsynced torn tail is cut, never served. The one exception is a frame
// whose header holds but whose CRC fails while a good frame follows it:
// damage to written data, kept (RecoverStats.DamagedFrames) so that reads of
// it fail with ErrCorrupt and the frames after it stay.
//
// With Options.PreallocateBytes the active .log may run on past its last
// frame with zeros written (and synced) ahead of the data, so that the sync
// of an append has no file size to commit. A zero length field ends the
// frames like a torn tail does; Seal, Close and recovery cut the zeros off.
//
// With Options.WritebackBytes, Append starts the write-back of each
// WritebackBytes of new data without waiting (sync_file_range), so that the
// sync at Seal has only the last stretch left to write. It changes nothing
// on disk and promises nothing: only Sync makes data durable.
package segment
