// Package segment owns the on-disk layout of one log segment: stored
// batches (Kafka's RecordBatch v2, and the previous release's frames, read
// only), the .log, .index and .timeindex files, the recovery scan, the
// lookup of offsets by time, the roll decision, and the FileCache that caps
// open files. Files are reached through vfs.FS (vfs.OS, or errorfs.FaultFS
// for fault injection).
//
// Concurrency: a *Segment is NOT safe for concurrent use; one owner (the
// partition actor) calls all its methods. A *View may be read from one other
// goroutine: the bytes it covers never change, and it keeps its file readable
// until Release, even after the segment is removed. FileCache is safe
// for concurrent use. The package starts no goroutines.
//
// Files: <dir>/<base offset, 20 digits>.log, .index and .timeindex.
//
// A .log is a sequence of Kafka RecordBatch v2 batches (magic 2, drawn in
// package batch), one per produce request as its producer built it, offsets
// dense across them. Integers are big-endian. Storage reads the header only:
//
//	 0             8        12             16    17    21          ...  61
//	+-------------+--------+--------------+-----+-----+------------+---------+
//	| base offset | length | leader epoch | 2   | crc | attributes | records |
//	+-------------+--------+--------------+-----+-----+------------+---------+
//	  length = bytes after the length field; size = 12 + length
//	  crc    = CRC-32C of bytes [21, size): the base offset and the leader
//	           epoch sit outside it, so the actor sets the base offset on a
//	           batch checked as its producer built it, with no recompute.
//	  a batch takes offsets [base, base + last offset delta + 1), with
//	  record count = last offset delta + 1 >= 1; the next batch's base is
//	  the offset after them.
//
// A flip in a leader epoch is the one change to a batch no check sees: it
// is outside the CRC in Kafka's format and holds nothing served.
//
// Segments written by the previous release (Options.Legacy) hold its frames
// instead, little-endian, and are only read: View.Read converts each to a v2
// batch. They stay in place until retention deletes them.
//
//	 0      4      8   9   10     12      16            24            32
//	+------+------+---+---+------+-------+-------------+-------------+---------+
//	| len  | crc  | 1 | 0 | 0    | count | base offset | max ts (ms) | records |
//	+------+------+---+---+------+-------+-------------+-------------+---------+
//	  crc = CRC-32C of bytes [8, 4+len); each record a LogEntry's protobuf
//	  encoding with the offset as a fixed 8-byte varint (legacy_record.go)
//
// A .index is an array of 8-byte little-endian entries {u32 base offset of
// a frame - segment base, u32 position}, one for the first frame and then one whenever IndexIntervalBytes of log were
// written since the last entry. It is a hint: it is validated on load, checked
// at lookup, and rebuilt from the .log whenever it does not fit.
//
// A .timeindex (Kafka's) is an array of 12-byte little-endian entries:
//
//	 0                  8                12
//	+------------------+-----------------+
//	| max timestamp ms | offset - base   |   one entry
//	+------------------+-----------------+
//	  timestamp = the largest max timestamp of the batches up to the one at
//	              offset, which is the first to reach it (a running max, as
//	              in Kafka, not that batch's own: with producers' timestamps
//	              out of order only a running max vouches for what is before)
//	  an entry is added when IndexIntervalBytes of log passed since the last
//	  one and the running max rose past it; Seal and Close add the running
//	  max if it is not the last entry yet, so that a sealed segment's last
//	  entry is its max timestamp. Both fields strictly increase.
//
// OffsetForTime (Kafka's ListOffsets rule, also for timestamps out of
// order) starts at the batch of the last entry at or below the time asked
// (no batch before it holds a record at or after it), walks batch headers
// to the first whose max timestamp reaches it, and decodes that batch for
// its first record that does. The .timeindex is a hint like the .index:
// validated on load, and a sealed segment's, or a cleanly closed active
// one's, is checked from its last entry's batch to the end of the log (the
// batch must hold the entry's time, none after it more), and an entry a
// lookup starts from is checked first as Locate checks an .index entry (its
// batch holds the entry's time as its max, and none from the .index entry
// before it as much); a missing, bad or contradicted one is rebuilt from the
// .log, as recovery rebuilds both.
//
// One walk over stored frames (reader.go) serves recovery, index rebuilds,
// lookups and reads, in either format.
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
