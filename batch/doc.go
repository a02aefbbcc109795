// Package batch is Kafka's RecordBatch v2 (magic 2), the one batch format
// LogBroker stores on disk and serves to both front ends: the header, the
// records inside it, and their compression.
//
// A batch, all integers big-endian:
//
//	 0        8       12            16      17    21     23                27
//	+--------+-------+-------------+-------+-----+------+-----------------+
//	| base   | len   | leader      | magic | crc | attr | last offset     |
//	| offset |       | epoch       | = 2   |     |      | delta           |
//	+--------+-------+-------------+-------+-----+------+-----------------+
//	 27               35              43            51        53          57     61
//	+----------------+---------------+-------------+---------+-----------+------+---------+
//	| first          | max           | producer id | producer| base      | num  | records |
//	| timestamp (ms) | timestamp (ms)|             | epoch   | sequence  | recs |         |
//	+----------------+---------------+-------------+---------+-----------+------+---------+
//	  len  = bytes after the len field (49 + records)
//	  crc  = CRC-32C (Castagnoli) of bytes [21, 12+len): base offset, length,
//	         leader epoch and magic are outside it, so the broker sets the
//	         base offset (and the Raft term, in leader epoch) without a recompute
//	  attr = bits 0-2 compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
//	         bit 3 log-append time, bit 4 transactional, bit 5 control
//
// Each record (compressed as one block when attr says so), varints zig-zag:
//
//	varint length | int8 attributes | varint timestamp delta | varint offset delta |
//	varint key length (-1: null) | key | varint value length (-1: null) | value |
//	varint header count | { varint key length | key | varint value length (-1: null) | value }...
//
// Concurrency: the package holds no state; every function is safe for
// concurrent use on distinct buffers. It starts no goroutines.
package batch
