// Command report turns the measurements of bench/peers.sh into one table of
// medians with ratios against the peers and the goals of issue 5 (markdown,
// on stdout and in CHARTS/table.md), and SVG charts: throughput against the
// peers, latency percentiles, and the partition-scaling curve.
//
// Input: a TSV of run, system, workload, metric, value (bench/lib.sh emit).
//
// Concurrency: a single goroutine; nothing runs in the background.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// key names one measured quantity; its values are one per run.
type key struct{ system, workload, metric string }

type data map[key][]float64

// runData is every value by its run number, for ratios paired run by run.
type runData map[key]map[string]float64

func (r runData) byRun(system, workload, metric string) map[string]float64 {
	return r[key{system, workload, metric}]
}

func load(path string) (data, runData, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	d, rd := data{}, runData{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 5 {
			return nil, nil, fmt.Errorf("%s:%d: want 5 tab-separated fields, got %d", path, n, len(f))
		}
		v, err := strconv.ParseFloat(f[4], 64)
		if err != nil || math.IsNaN(v) {
			continue // a tool printed nothing usable; the run is left out
		}
		k := key{f[1], f[2], f[3]}
		d[k] = append(d[k], v)
		if rd[k] == nil {
			rd[k] = map[string]float64{}
		}
		rd[k][f[0]] = v
	}
	return d, rd, sc.Err()
}

// median of the runs; ok is false when there are none.
func (d data) median(system, workload, metric string) (float64, bool) {
	vs := slices.Clone(d[key{system, workload, metric}])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

func (d data) runs(system, workload, metric string) int { return len(d[key{system, workload, metric}]) }

// fmtNum prints a value for the table: thousands separators for rates,
// µs/ms for latencies.
func fmtNum(v float64, metric string) string {
	switch {
	case strings.HasSuffix(metric, "_us"):
		if v == 0 {
			return "< 1 ms" // a tool that prints whole milliseconds (Kafka's EndToEndLatency)
		}
		if v >= 1000 {
			return fmt.Sprintf("%.2f ms", v/1000)
		}
		return fmt.Sprintf("%.0f µs", v)
	case metric == "records_per_sec":
		return group(int64(math.Round(v)))
	case metric == "mb_per_sec":
		return fmt.Sprintf("%.0f MB/s", v)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}

func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// cell is one system's median for a row, or "n/a".
func (d data) cell(system, workload, metric string) string {
	v, ok := d.median(system, workload, metric)
	if !ok || workload == "" {
		return "n/a"
	}
	return fmtNum(v, metric)
}

// ratio of LogBroker's median to a peer's, "higher is better" for rates.
func (d data) ratio(lbWorkload, peer, peerWorkload, metric string) string {
	a, ok1 := d.median("logbroker", lbWorkload, metric)
	b, ok2 := d.median(peer, peerWorkload, metric)
	if !ok1 || !ok2 || b == 0 || peerWorkload == "" {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// row is one line of the comparison table.
type row struct {
	title           string
	metric          string
	lb, nats, kafka string // workload names per system ("" = none)
	goal            string
	met             func(d data) (bool, bool) // met, known
}

func atLeast(d data, sys, w, metric string, k float64, sys2, w2 string) (bool, bool) {
	a, ok1 := d.median(sys, w, metric)
	b, ok2 := d.median(sys2, w2, metric)
	return a >= k*b, ok1 && ok2
}

func atMost(d data, w, metric string, limit float64) (bool, bool) {
	v, ok := d.median("logbroker", w, metric)
	return v <= limit, ok
}

// both is met when both goals are; a goal measured and missed makes it
// missed (known) even if the other was not measured.
func both(a, b func(d data) (bool, bool)) func(d data) (bool, bool) {
	return func(d data) (bool, bool) {
		m1, k1 := a(d)
		m2, k2 := b(d)
		if (k1 && !m1) || (k2 && !m2) {
			return false, true
		}
		return m1 && m2, k1 && k2
	}
}

// lowerIsBetter says a metric's ratio reads the other way round: below 1
// is better (marked "(time)" for latencies, "(cost)" for CPU and memory).
func lowerIsBetter(metric string) string {
	switch {
	case strings.HasSuffix(metric, "_us"):
		return " (time)"
	case metric == "broker_cpu_s_per_m", metric == "client_cpu_s_per_m", metric == "rss_mib":
		return " (cost)"
	}
	return ""
}

var rows = []row{
	{"Produce 100 B, 1 partition, batches of 1,000, acks leader, no fsync (records/s)", "records_per_sec",
		"produce-100B", "produce-100B", "produce-100B", "≥ 10× NATS fast batched publish, ≥ 1.5× Kafka acks=1",
		both(func(d data) (bool, bool) {
			return atLeast(d, "logbroker", "produce-100B", "records_per_sec", 10, "nats", "produce-100B")
		},
			func(d data) (bool, bool) {
				return atLeast(d, "logbroker", "produce-100B", "records_per_sec", 1.5, "kafka", "produce-100B")
			})},
	{"Produce 1 KiB, same (MB/s)", "mb_per_sec", "produce-1KiB", "produce-1KiB", "produce-1KiB", "", nil},
	{"Produce 100 B, request latency p99.9, no fsync (each request's send to its ack)", "p99_9_us", "produce-100B", "", "", "", nil},
	{"Produce 100 B with fsync before every ack (records/s)", "records_per_sec",
		"produce-100B-always", "produce-100B-always", "", "≥ 70% of LogBroker without fsync",
		func(d data) (bool, bool) {
			return atLeast(d, "logbroker", "produce-100B-always", "records_per_sec", 0.7, "logbroker", "produce-100B")
		}},
	{"Catch-up consume 100 B, ConsumeBatches vs NATS ordered consumer vs Kafka ConsumerPerformance (records/s)", "records_per_sec",
		"consume-100B-batches", "consume-100B", "consume-100B", "≥ 10× NATS, ≥ 1× Kafka",
		both(func(d data) (bool, bool) {
			return atLeast(d, "logbroker", "consume-100B-batches", "records_per_sec", 10, "nats", "consume-100B")
		},
			func(d data) (bool, bool) {
				return atLeast(d, "logbroker", "consume-100B-batches", "records_per_sec", 1, "kafka", "consume-100B")
			})},
	{"Catch-up consume 100 B, per-entry Consume (records/s)", "records_per_sec",
		"consume-100B-entries", "", "", "≥ 600,000 (2× the prototype's 300k/s)",
		func(d data) (bool, bool) {
			v, ok := d.median("logbroker", "consume-100B-entries", "records_per_sec")
			return v >= 600_000, ok
		}},
	{"Latency p50: LogBroker live tail at 10,000/s open loop; NATS sync publish; Kafka EndToEndLatency (closed loop)", "p50_us",
		"latency-10000", "publish-sync", "e2e-closed-loop", "≤ 0.3 ms (LogBroker, no fsync)",
		func(d data) (bool, bool) { return atMost(d, "latency-10000", "p50_us", 300) }},
	{"Latency p99, same", "p99_us", "latency-10000", "publish-sync", "e2e-closed-loop", "≤ 1 ms (LogBroker, no fsync)",
		func(d data) (bool, bool) { return atMost(d, "latency-10000", "p99_us", 1000) }},
	{"Latency p99.9, same", "p99_9_us", "latency-10000", "publish-sync", "e2e-closed-loop", "", nil},
	{"Latency p99 with fsync before every ack (NATS: sync publish, sync_interval always)", "p99_us",
		"latency-10000-always", "publish-sync-always", "", "≤ 2 ms (LogBroker)",
		func(d data) (bool, bool) { return atMost(d, "latency-10000-always", "p99_us", 2000) }},
	{"Latency p50, live tail at 10,000/s with each record a ProduceStream message (one request, one response), no fsync", "p50_us",
		"latency-stream-10000", "", "", "≤ 0.3 ms", func(d data) (bool, bool) { return atMost(d, "latency-stream-10000", "p50_us", 300) }},
	{"Latency p99, same", "p99_us", "latency-stream-10000", "", "", "≤ 1 ms",
		func(d data) (bool, bool) { return atMost(d, "latency-stream-10000", "p99_us", 1000) }},
	{"Latency p99, same, with fsync before every ack", "p99_us", "latency-stream-10000-always", "", "", "≤ 2 ms",
		func(d data) (bool, bool) { return atMost(d, "latency-stream-10000-always", "p99_us", 2000) }},
	{"Latency p50 at 10,000/s counted from the actual send (without the sender's own delays), no fsync", "from_send_p50_us", "latency-10000", "", "", "", nil},
	{"Latency p99, same", "from_send_p99_us", "latency-10000", "", "", "", nil},
	{"Latency p50 at 1,000/s (light load), no fsync", "p50_us", "latency-1000", "", "", "", nil},
	{"Latency p99 at 1,000/s (light load), no fsync", "p99_us", "latency-1000", "", "", "", nil},
	{"Produce 100 B over 1,024 partitions (records/s; same producers and batches)", "records_per_sec",
		"produce-100B-p1024", "", "", "≥ 80% of 1 partition",
		func(d data) (bool, bool) {
			return atLeast(d, "logbroker", "produce-100B-p1024", "records_per_sec", 0.8, "logbroker", "produce-100B-p1")
		}},
	{"Broker RSS during the 100 B produce run (MiB)", "rss_mib", "produce-100B", "", "", "≤ 256 MiB",
		func(d data) (bool, bool) { return atMost(d, "produce-100B", "rss_mib", 256) }},
	{"Broker CPU seconds per million records, produce 100 B", "broker_cpu_s_per_m", "produce-100B", "", "produce-100B", "", nil},
	{"Broker CPU seconds per million records, catch-up consume 100 B (LogBroker: ConsumeBatches)", "broker_cpu_s_per_m", "consume-100B-batches", "", "consume-100B", "", nil},
}

func writeTable(w io.Writer, d data) {
	fmt.Fprintln(w, "| Workload | LogBroker | NATS JetStream | LogBroker / NATS | Kafka 4.4 | LogBroker / Kafka | Goal | Met |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|---|")
	for _, r := range rows {
		met := ""
		if r.met != nil {
			ok, known := r.met(d)
			switch {
			case !known:
				met = "not measured"
			case ok:
				met = "yes"
			default:
				met = "**no**"
			}
		}
		natsRatio, kafkaRatio := d.ratio(r.lb, "nats", r.nats, r.metric), d.ratio(r.lb, "kafka", r.kafka, r.metric)
		if natsRatio != "n/a" {
			natsRatio += lowerIsBetter(r.metric)
		}
		if kafkaRatio != "n/a" {
			kafkaRatio += lowerIsBetter(r.metric)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.title,
			d.cell("logbroker", r.lb, r.metric), d.cell("nats", r.nats, r.metric), natsRatio,
			d.cell("kafka", r.kafka, r.metric), kafkaRatio, r.goal, met)
	}
	fmt.Fprintln(w, "\nScaling over partitions (LogBroker, produce 100 B, records/s):")
	fmt.Fprintln(w, "\n| partitions | records/s | vs 1 partition |")
	fmt.Fprintln(w, "|---:|---:|---:|")
	base, _ := d.median("logbroker", "produce-100B-p1", "records_per_sec")
	for _, p := range []int{1, 8, 64, 1024} {
		v, ok := d.median("logbroker", fmt.Sprintf("produce-100B-p%d", p), "records_per_sec")
		if !ok {
			continue
		}
		rel := "n/a"
		if base > 0 {
			rel = fmt.Sprintf("%.0f%%", 100*v/base)
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", p, group(int64(v)), rel)
	}
	writeDepths(w, d)
}

// writeDepths is produce 100 B against the requests in flight (producers),
// without and with a sync before every ack (bench/logbroker.sh INFLIGHT=1).
func writeDepths(w io.Writer, d data) {
	var lines []string
	for _, n := range []int{1, 2, 4, 8, 16} {
		never, ok1 := d.median("logbroker", fmt.Sprintf("produce-100B-f%d", n), "records_per_sec")
		always, ok2 := d.median("logbroker", fmt.Sprintf("produce-100B-always-f%d", n), "records_per_sec")
		if !ok1 || !ok2 || never == 0 {
			continue
		}
		lines = append(lines, fmt.Sprintf("| %d | %s | %s | %.0f%% |", n, group(int64(never)), group(int64(always)), 100*always/never))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "\nProduce 100 B against requests in flight (LogBroker, records/s):")
	fmt.Fprintln(w, "\n| requests in flight | no fsync | fsync before every ack | always / never |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// writeAll lists every median with its spread, for the record.
func writeAll(w io.Writer, d data) {
	keys := make([]key, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return strings.Compare(a.system+"\x00"+a.workload+"\x00"+a.metric, b.system+"\x00"+b.workload+"\x00"+b.metric)
	})
	fmt.Fprintln(w, "| system | workload | metric | median | min | max | runs |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|")
	for _, k := range keys {
		vs := slices.Clone(d[k])
		slices.Sort(vs)
		m, _ := d.median(k.system, k.workload, k.metric)
		fmt.Fprintf(w, "| %s | %s | %s | %.4g | %.4g | %.4g | %d |\n", k.system, k.workload, k.metric, m, vs[0], vs[len(vs)-1], len(vs))
	}
}

func main() {
	in := flag.String("in", "", "results TSV from bench/peers.sh")
	charts := flag.String("charts", "docs/bench", "directory for the SVG charts and table.md")
	machine := flag.String("machine", "", "machine description to copy into table.md")
	kafka := flag.Bool("kafka", false, "only the issue-14 table (bench/kafkapeers.sh), into CHARTS/kafka-table.md")
	flag.Parse()
	if *in == "" {
		log.Fatal("report: -in is required")
	}
	d, rd, err := load(*in)
	if err != nil {
		log.Fatal(err)
	}
	if *kafka {
		writeKafkaReport(d, rd, *charts, *machine)
		return
	}
	writeTable(os.Stdout, d)
	if err := os.MkdirAll(*charts, 0o755); err != nil {
		log.Fatal(err)
	}
	var md strings.Builder
	if *machine != "" {
		if b, err := os.ReadFile(*machine); err == nil {
			md.WriteString("```\n" + string(b) + "```\n\n")
		}
	}
	writeTable(&md, d)
	md.WriteString("\nEvery median (and its spread over the runs):\n\n")
	writeAll(&md, d)
	files := map[string]string{
		"table.md":       md.String(),
		"throughput.svg": throughputChart(d),
		"latency.svg":    latencyChart(d),
		"scaling.svg":    scalingChart(d),
	}
	for name, text := range files {
		p := filepath.Join(*charts, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintln(os.Stderr, "wrote", p)
	}
}
