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
		"client_cpu_s_per_m": " (cost)",
		"rss_mib":            " (cost)",
		"records_per_sec":    "",
		"mb_per_sec":         "",
	} {
		if got := lowerIsBetter(metric); got != want {
			t.Errorf("lowerIsBetter(%q) = %q, want %q", metric, got, want)
		}
	}
}

// TestKafkaRowMet: rates must reach k × Kafka, CPU must stay at or under
// k × Kafka, and a side not measured (or a row without a goal) is unknown.
func TestKafkaRowMet(t *testing.T) {
	d := data{
		{"logbroker", "p", "records_per_sec"}:    {150},
		{"kafka", "p", "records_per_sec"}:        {100},
		{"logbroker", "p", "broker_cpu_s_per_m"}: {0.6},
		{"kafka", "p", "broker_cpu_s_per_m"}:     {1},
		{"logbroker", "q", "records_per_sec"}:    {1},
	}
	for _, tt := range []struct {
		row              kafkaRow
		wantMet, wantKnw bool
	}{
		{kafkaRow{workload: "p", metric: "records_per_sec", k: 1.5}, true, true},
		{kafkaRow{workload: "p", metric: "records_per_sec", k: 1.6}, false, true},
		{kafkaRow{workload: "p", metric: "broker_cpu_s_per_m", k: 0.5}, false, true},
		{kafkaRow{workload: "p", metric: "broker_cpu_s_per_m", k: 0.6}, true, true},
		{kafkaRow{workload: "q", metric: "records_per_sec", k: 1}, false, false},
		{kafkaRow{workload: "p", metric: "records_per_sec"}, false, false},
	} {
		if met, known := tt.row.met(d); met != tt.wantMet || known != tt.wantKnw {
			t.Errorf("%s %s k=%g: met %v known %v, want %v %v", tt.row.workload, tt.row.metric, tt.row.k, met, known, tt.wantMet, tt.wantKnw)
		}
	}
}

// TestPerRun: ratios are paired by run number; a run one side lacks is
// left out.
func TestPerRun(t *testing.T) {
	rd := runData{
		{"logbroker", "w", "records_per_sec"}: {"1": 200, "2": 300, "3": 999},
		{"kafka", "w", "records_per_sec"}:     {"1": 100, "2": 200},
	}
	if got, want := perRun(rd, "w", "records_per_sec"), "1.50–2.00"; got != want {
		t.Errorf("perRun = %q, want %q", got, want)
	}
	if got := perRun(rd, "none", "records_per_sec"); got != "n/a" {
		t.Errorf("perRun of nothing = %q, want n/a", got)
	}
}
