package group

import "sort"

// assignRange is the assignment strategy, a pure function: Kafka's range
// assignor for one topic. Members are sorted by ID; partitions 0..n-1 are cut
// into len(ids) contiguous ranges in that order, the first n%len(ids) members
// taking one extra. So counts differ by at most one, every partition has
// exactly one owner, and the result depends only on the member IDs and n.
//
// Example: 7 partitions over members a, b, c -> a: 0 1 2, b: 3 4, c: 5 6.
func assignRange(ids []string, n uint32) map[string][]uint32 {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	out := make(map[string][]uint32, len(sorted))
	m := uint32(len(sorted))
	if m == 0 {
		return out
	}
	per, extra := n/m, n%m
	next := uint32(0)
	for i, id := range sorted {
		count := per
		if uint32(i) < extra {
			count++
		}
		parts := make([]uint32, count)
		for j := range parts {
			parts[j] = next
			next++
		}
		out[id] = parts
	}
	return out
}
