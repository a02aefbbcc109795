package main

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidate(t *testing.T) {
	ok := config{brokers: "127.0.0.1:9093", mode: "produce", topic: "t", records: 1, recordSize: 100, batchBytes: 131072}
	for _, tt := range []struct {
		name string
		edit func(*config)
		want string // "" = valid
	}{
		{"valid produce", func(*config) {}, ""},
		{"valid consume", func(c *config) { c.mode = "consume" }, ""},
		{"no brokers", func(c *config) { c.brokers = "" }, "-brokers"},
		{"unknown mode", func(c *config) { c.mode = "both" }, "-mode"},
		{"no topic", func(c *config) { c.topic = "" }, "-topic"},
		{"no records", func(c *config) { c.records = 0 }, "-records"},
		{"empty records", func(c *config) { c.recordSize = 0 }, "-record-size"},
		{"batch smaller than a record", func(c *config) { c.batchBytes = 99 }, "-batch-bytes"},
	} {
		c := ok
		tt.edit(&c)
		err := c.validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}

// TestResultLine: bench/kafkapeers.sh reads records_per_sec from this line.
func TestResultLine(t *testing.T) {
	got := result{records: 3000, errors: 1, elapsed: 2 * time.Second}.String()
	want := "records=3000 seconds=2.000 records_per_sec=1500 errors=1"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
