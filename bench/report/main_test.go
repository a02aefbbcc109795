package main

import "testing"

// TestBoth: a two-part goal is missed as soon as one measured part is
// missed, even if the other part was not measured; it is met only when
// both are measured and met.
func TestBoth(t *testing.T) {
	d := data{
		{"logbroker", "w", "records_per_sec"}: {100},
		{"nats", "w", "records_per_sec"}:      {50},
	}
	nats10x := func(d data) (bool, bool) { return atLeast(d, "logbroker", "w", "records_per_sec", 10, "nats", "w") }
	nats1x := func(d data) (bool, bool) { return atLeast(d, "logbroker", "w", "records_per_sec", 1, "nats", "w") }
	kafka := func(d data) (bool, bool) { return atLeast(d, "logbroker", "w", "records_per_sec", 1, "kafka", "w") }
	for _, tt := range []struct {
		name             string
		f                func(data) (bool, bool)
		wantMet, wantKnw bool
	}{
		{"missed and unmeasured", both(nats10x, kafka), false, true},
		{"unmeasured and missed", both(kafka, nats10x), false, true},
		{"met and unmeasured", both(nats1x, kafka), false, false},
		{"met and met", both(nats1x, nats1x), true, true},
	} {
		// When not known, the table says "not measured" whatever met is.
		if met, known := tt.f(d); known != tt.wantKnw || (known && met != tt.wantMet) {
			t.Errorf("%s: met %v known %v, want %v %v", tt.name, met, known, tt.wantMet, tt.wantKnw)
		}
	}
}

// TestLowerIsBetter: ratios of latencies, CPU and memory read the other way
// round and say so; throughput ratios carry no mark.
func TestLowerIsBetter(t *testing.T) {
	for metric, want := range map[string]string{
		"p99_us":             " (time)",
		"broker_cpu_s_per_m": " (cost)",
		"rss_mib":            " (cost)",
		"records_per_sec":    "",
		"mb_per_sec":         "",
	} {
		if got := lowerIsBetter(metric); got != want {
			t.Errorf("lowerIsBetter(%q) = %q, want %q", metric, got, want)
		}
	}
}
