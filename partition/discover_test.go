package partition

import (
	"testing"
)

func TestSplitPartitionDir(t *testing.T) {
	for _, tt := range []struct {
		in    string
		topic string
		p     uint32
		ok    bool
	}{
		{"orders-0", "orders", 0, true},
		{"my-topic-12", "my-topic", 12, true},
		{"a--3", "a-", 3, true},
		{"orders", "", 0, false},
		{"-1", "", 0, false},
		{"orders-01", "", 0, false},
		{"orders-x", "", 0, false},
		{"orders-99999999999", "", 0, false},
	} {
		topic, p, ok := splitPartitionDir(tt.in)
		if ok != tt.ok || topic != tt.topic || p != tt.p {
			t.Errorf("splitPartitionDir(%q) = %q, %d, %v; want %q, %d, %v", tt.in, topic, p, ok, tt.topic, tt.p, tt.ok)
		}
	}
}
