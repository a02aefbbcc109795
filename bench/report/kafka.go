package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// kafkaRow is one line of the issue-14 table: the same Kafka client (or the
// same kgo workload) against LogBroker's Kafka listener and against Kafka.
// For a rate the goal is LogBroker ≥ k × Kafka; for broker CPU per million
// records, LogBroker ≤ k × Kafka.
type kafkaRow struct {
	title, workload, metric string
	k                       float64 // 0: no goal
}

var kafkaRows = []kafkaRow{
	{"ProducerPerformance 100 B, acks=1 (records/s)", "kperf-produce-100B-acks1", "records_per_sec", 1.5},
	{"ProducerPerformance 100 B, acks=all, idempotent (records/s)", "kperf-produce-100B-acksall", "records_per_sec", 1.5},
	{"ProducerPerformance 1 KiB, acks=1 (records/s)", "kperf-produce-1KiB-acks1", "records_per_sec", 1.5},
	{"ProducerPerformance 1 KiB, acks=all, idempotent (records/s)", "kperf-produce-1KiB-acksall", "records_per_sec", 1.5},
	{"ConsumerPerformance 100 B, from the start (records/s, without the group join)", "kperf-consume-100B", "records_per_sec", 1},
	{"ConsumerPerformance 1 KiB, same (records/s)", "kperf-consume-1KiB", "records_per_sec", 1},
	{"Broker CPU s per million records: produce 100 B, acks=1", "kperf-produce-100B-acks1", "broker_cpu_s_per_m", 0.5},
	{"Broker CPU s per million records: produce 100 B, acks=all", "kperf-produce-100B-acksall", "broker_cpu_s_per_m", 0.5},
	{"Broker CPU s per million records: produce 1 KiB, acks=1", "kperf-produce-1KiB-acks1", "broker_cpu_s_per_m", 0.5},
	{"Broker CPU s per million records: produce 1 KiB, acks=all", "kperf-produce-1KiB-acksall", "broker_cpu_s_per_m", 0.5},
	{"Broker CPU s per million records: consume 100 B", "kperf-consume-100B", "broker_cpu_s_per_m", 0.5},
	{"Broker CPU s per million records: consume 1 KiB", "kperf-consume-1KiB", "broker_cpu_s_per_m", 0.5},
	{"The tool's own CPU s per million records: ProducerPerformance 100 B, acks=1", "kperf-produce-100B-acks1", "client_cpu_s_per_m", 0},
	{"The tool's own CPU s per million records: ConsumerPerformance 100 B", "kperf-consume-100B", "client_cpu_s_per_m", 0},
	{"ProducerPerformance p99 latency, 100 B, acks=all (whole ms)", "kperf-produce-100B-acksall", "p99_us", 0},
	{"franz-go (kgo) produce 100 B, acks=all, idempotent (records/s)", "franz-produce-100B", "records_per_sec", 0},
	{"franz-go (kgo) consume 100 B, no group (records/s)", "franz-consume-100B", "records_per_sec", 0},
	{"Broker CPU s per million records: franz-go produce 100 B", "franz-produce-100B", "broker_cpu_s_per_m", 0},
	{"Broker CPU s per million records: franz-go consume 100 B", "franz-consume-100B", "broker_cpu_s_per_m", 0},
	{"Warm-up: ProducerPerformance 100 B, acks=1, first half of the warm-up (records/s)", "kperf-warm-produce-acks1", "records_per_sec", 0},
	{"Warm-up: broker CPU s per million records, same", "kperf-warm-produce-acks1", "broker_cpu_s_per_m", 0},
}

// met says whether a row's goal holds for the medians; known is false when
// either side was not measured or the row has no goal.
func (r kafkaRow) met(d data) (met, known bool) {
	a, ok1 := d.median("logbroker", r.workload, r.metric)
	b, ok2 := d.median("kafka", r.workload, r.metric)
	if r.k == 0 || !ok1 || !ok2 {
		return false, false
	}
	if lowerIsBetter(r.metric) != "" {
		return a <= r.k*b, true
	}
	return a >= r.k*b, true
}

func (r kafkaRow) goal() string {
	switch {
	case r.k == 0:
		return ""
	case lowerIsBetter(r.metric) != "":
		return fmt.Sprintf("≤ %g× Kafka", r.k)
	}
	return fmt.Sprintf("≥ %g× Kafka", r.k)
}

// perRun is LogBroker / Kafka run by run (runs paired by number), as
// "min–max", so a ratio of medians can be told from a steady one.
func perRun(rd runData, workload, metric string) string {
	lb, kf := rd.byRun("logbroker", workload, metric), rd.byRun("kafka", workload, metric)
	var rs []float64
	for run, a := range lb {
		if b, ok := kf[run]; ok && b != 0 {
			rs = append(rs, a/b)
		}
	}
	if len(rs) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f–%.2f", slices.Min(rs), slices.Max(rs))
}

// writeKafkaTable prints the issue-14 table: Kafka's tools against both
// brokers, then Kafka's path against LogBroker's gRPC path.
func writeKafkaTable(w io.Writer, d data, rd runData) {
	fmt.Fprintln(w, "| Workload | LogBroker (Kafka listener) | Kafka 4.4 | LogBroker / Kafka | per run | Goal | Met |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|---|")
	for _, r := range kafkaRows {
		met := ""
		if r.k != 0 {
			switch ok, known := r.met(d); {
			case !known:
				met = "not measured"
			case ok:
				met = "yes"
			default:
				met = "**no**"
			}
		}
		ratio := d.ratio(r.workload, "kafka", r.workload, r.metric)
		if ratio != "n/a" {
			ratio += lowerIsBetter(r.metric)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", r.title,
			d.cell("logbroker", r.workload, r.metric), d.cell("kafka", r.workload, r.metric),
			ratio, perRun(rd, r.workload, r.metric), r.goal(), met)
	}
	fmt.Fprintln(w, "\nLogBroker, produce 100 B: Kafka's ProducerPerformance on the Kafka listener against `lb bench produce` (batches of 1,000) over gRPC:")
	fmt.Fprintln(w, "\n| path | records/s | broker CPU s per million |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, p := range []struct{ name, workload string }{
		{"Kafka listener, ProducerPerformance acks=1", "kperf-produce-100B-acks1"},
		{"Kafka listener, ProducerPerformance acks=all (idempotent)", "kperf-produce-100B-acksall"},
		{"Kafka listener, franz-go acks=all (idempotent)", "franz-produce-100B"},
		{"gRPC, lb bench produce", "grpc-produce-100B"},
	} {
		fmt.Fprintf(w, "| %s | %s | %s |\n", p.name, d.cell("logbroker", p.workload, "records_per_sec"),
			d.cell("logbroker", p.workload, "broker_cpu_s_per_m"))
	}
}

// writeKafkaReport prints the issue-14 table and writes it, with the
// machine description and every median, to charts/kafka-table.md.
func writeKafkaReport(d data, rd runData, charts, machine string) {
	writeKafkaTable(os.Stdout, d, rd)
	var md strings.Builder
	if machine != "" {
		if b, err := os.ReadFile(machine); err == nil {
			md.WriteString("```\n" + string(b) + "```\n\n")
		}
	}
	writeKafkaTable(&md, d, rd)
	md.WriteString("\nEvery median (and its spread over the runs):\n\n")
	writeAll(&md, d)
	if err := os.MkdirAll(charts, 0o755); err != nil {
		log.Fatal(err)
	}
	p := filepath.Join(charts, "kafka-table.md")
	if err := os.WriteFile(p, []byte(md.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "wrote", p)
}
