package main

import (
	"math/bits"
	"sync/atomic"
)

// seqSet is a set of sequence numbers in [0, n), one bit each, so that a
// run can say which records were acknowledged and which were received
// without keeping a word per record. Safe for concurrent use.
type seqSet struct {
	n int64
	w []atomic.Uint64
}

func newSeqSet(n int64) *seqSet {
	return &seqSet{n: n, w: make([]atomic.Uint64, (n+63)/64)}
}

// holds says whether seq is in the set's range.
func (s *seqSet) holds(seq int64) bool { return seq >= 0 && seq < s.n }

// add puts seq in the set and says whether it was new. seq must be in range.
func (s *seqSet) add(seq int64) bool {
	bit := uint64(1) << (seq % 64)
	return s.w[seq/64].Or(bit)&bit == 0
}

// countNotIn is how many members of s are not in o (same range).
func (s *seqSet) countNotIn(o *seqSet) int64 {
	var n int
	for i := range s.w {
		n += bits.OnesCount64(s.w[i].Load() &^ o.w[i].Load())
	}
	return int64(n)
}
