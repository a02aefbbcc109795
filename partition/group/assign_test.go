package group

import (
	"reflect"
	"testing"
)

func TestAssignRange(t *testing.T) {
	tests := []struct {
		name string
		ids  []string
		n    uint32
		want map[string][]uint32
	}{
		{"three members six partitions", []string{"c", "a", "b"}, 6,
			map[string][]uint32{"a": {0, 1}, "b": {2, 3}, "c": {4, 5}}},
		{"extra partitions go first", []string{"a", "b", "c"}, 7,
			map[string][]uint32{"a": {0, 1, 2}, "b": {3, 4}, "c": {5, 6}}},
		{"four members six partitions", []string{"d", "c", "b", "a"}, 6,
			map[string][]uint32{"a": {0, 1}, "b": {2, 3}, "c": {4}, "d": {5}}},
		{"more members than partitions", []string{"a", "b", "c"}, 2,
			map[string][]uint32{"a": {0}, "b": {1}, "c": {}}},
		{"no partitions", []string{"a"}, 0, map[string][]uint32{"a": {}}},
		{"no members", nil, 4, map[string][]uint32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := assignRange(tt.ids, tt.n); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("assignRange(%v, %d) = %v, want %v", tt.ids, tt.n, got, tt.want)
			}
		})
	}
}

// TestAssignRangeProperties checks the contract for many shapes: each
// partition has exactly one owner, and counts differ by at most one.
func TestAssignRangeProperties(t *testing.T) {
	for m := 1; m <= 9; m++ {
		for n := uint32(0); n <= 20; n++ {
			ids := make([]string, m)
			for i := range ids {
				ids[i] = string(rune('a' + i))
			}
			got := assignRange(ids, n)
			owners := make([]int, n)
			lo, hi := int(n), 0
			for _, ps := range got {
				lo, hi = min(lo, len(ps)), max(hi, len(ps))
				for _, p := range ps {
					owners[p]++
				}
			}
			for p, c := range owners {
				if c != 1 {
					t.Fatalf("m=%d n=%d: partition %d has %d owners", m, n, p, c)
				}
			}
			if hi-lo > 1 {
				t.Fatalf("m=%d n=%d: counts range %d..%d", m, n, lo, hi)
			}
		}
	}
}
