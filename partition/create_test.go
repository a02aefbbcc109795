package partition

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"a.b_c-d", true},
		{"with-dash-7", true},
		{strings.Repeat("x", 249), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", 250), false},
		{"a/b", false},
		{"a b", false},
		{"ü", false},
	} {
		err := ValidateTopicName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateTopicName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidTopicName) {
			t.Errorf("ValidateTopicName(%q) = %v, not ErrInvalidTopicName", tt.name, err)
		}
	}
}
