package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// bar is one value of a chart; group is the heading it sits under.
type bar struct {
	label string
	value float64
	color string
}

type barGroup struct {
	title string
	bars  []bar
}

var colors = map[string]string{
	"logbroker": "#2b6cb0",
	"nats":      "#2f9e44",
	"kafka":     "#e8590c",
	"p50":       "#4dabf7",
	"p99":       "#1c7ed6",
	"p99.9":     "#0b3d91",
}

// barChart draws groups of horizontal bars with their values written at
// the end. With logScale the axis is logarithmic (latencies spread over
// decades).
func barChart(title, unit string, groups []barGroup, logScale bool, format func(float64) string) string {
	const (
		width  = 860
		left   = 260 // labels
		right  = 110 // value text
		barH   = 18
		gap    = 4
		groupH = 26 // heading
		top    = 48
	)
	maxV, minV := 0.0, math.Inf(1)
	n := 0
	for _, g := range groups {
		for _, b := range g.bars {
			maxV = max(maxV, b.value)
			if b.value > 0 {
				minV = min(minV, b.value)
			}
			n++
		}
	}
	height := top + len(groups)*groupH + n*(barH+gap) + 40
	plotW := float64(width - left - right)
	scale := func(v float64) float64 {
		if maxV <= 0 || v <= 0 {
			return 0
		}
		if !logScale {
			return plotW * v / maxV
		}
		lo := math.Floor(math.Log10(minV))
		hi := math.Ceil(math.Log10(maxV))
		if hi <= lo {
			hi = lo + 1
		}
		return plotW * (math.Log10(v) - lo + 0.05) / (hi - lo + 0.05)
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%d" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", 10, html.EscapeString(title))
	axis := unit
	if logScale {
		axis += " (log scale)"
	}
	fmt.Fprintf(&s, `<text x="%d" y="40" fill="#555">%s</text>`+"\n", 10, html.EscapeString(axis))
	y := top
	for _, g := range groups {
		fmt.Fprintf(&s, `<text x="10" y="%d" font-weight="bold">%s</text>`+"\n", y+16, html.EscapeString(g.title))
		y += groupH
		for _, b := range g.bars {
			w := scale(b.value)
			fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-5, html.EscapeString(b.label))
			fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y, w, barH, b.color)
			fmt.Fprintf(&s, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(left)+w+6, y+barH-5, html.EscapeString(format(b.value)))
			y += barH + gap
		}
	}
	fmt.Fprintf(&s, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`+"\n", left, top, left, y)
	s.WriteString("</svg>\n")
	return s.String()
}

var systemNames = map[string]string{"logbroker": "LogBroker", "nats": "NATS JetStream", "kafka": "Kafka 4.4"}

func throughputChart(d data) string {
	type spec struct {
		title string
		bars  [][3]string // system, workload, label suffix
	}
	specs := []spec{
		{"Produce 100 B, 1 partition, batches of 1,000, no fsync", [][3]string{
			{"logbroker", "produce-100B", ""}, {"nats", "produce-100B", " (fast batched publish)"}, {"nats", "produce-100B-async", " (async publish)"}, {"kafka", "produce-100B", " (acks=1)"}}},
		{"Produce 100 B, fsync before every ack", [][3]string{
			{"logbroker", "produce-100B-always", ""}, {"nats", "produce-100B-always", " (fast batched)"}}},
		{"Catch-up consume 100 B", [][3]string{
			{"logbroker", "consume-100B-batches", " ConsumeBatches"}, {"logbroker", "consume-100B-entries", " Consume"},
			{"nats", "consume-100B", " (ordered consumer)"}, {"kafka", "consume-100B", ""}}},
		{"Produce 1 KiB (records/s)", [][3]string{
			{"logbroker", "produce-1KiB", ""}, {"nats", "produce-1KiB", " (fast batched)"}, {"kafka", "produce-1KiB", ""}}},
	}
	var groups []barGroup
	for _, sp := range specs {
		g := barGroup{title: sp.title}
		for _, b := range sp.bars {
			if v, ok := d.median(b[0], b[1], "records_per_sec"); ok {
				g.bars = append(g.bars, bar{systemNames[b[0]] + b[2], v, colors[b[0]]})
			}
		}
		if len(g.bars) > 0 {
			groups = append(groups, g)
		}
	}
	return barChart("Throughput against the peers (medians, same machine, back to back)", "records per second", groups, false,
		func(v float64) string { return group(int64(v)) + "/s" })
}

func latencyChart(d data) string {
	type series struct{ system, workload, label string }
	all := []series{
		{"logbroker", "latency-10000", "LogBroker, live tail at 10,000/s, no fsync"},
		{"logbroker", "latency-10000-always", "LogBroker, live tail at 10,000/s, fsync always"},
		{"logbroker", "latency-stream-10000", "LogBroker, ProduceStream, live tail at 10,000/s, no fsync"},
		{"logbroker", "latency-stream-10000-always", "LogBroker, ProduceStream, live tail at 10,000/s, fsync always"},
		{"logbroker", "latency-1000", "LogBroker, live tail at 1,000/s, no fsync"},
		{"logbroker", "latency-1000-always", "LogBroker, live tail at 1,000/s, fsync always"},
		{"nats", "publish-sync", "NATS sync publish (publish to ack)"},
		{"nats", "publish-sync-always", "NATS sync publish, sync always"},
		{"kafka", "e2e-closed-loop", "Kafka EndToEndLatency (closed loop, ms resolution)"},
	}
	var groups []barGroup
	for _, s := range all {
		g := barGroup{title: s.label}
		for _, p := range [][2]string{{"p50", "p50_us"}, {"p99", "p99_us"}, {"p99.9", "p99_9_us"}} {
			if v, ok := d.median(s.system, s.workload, p[1]); ok {
				g.bars = append(g.bars, bar{p[0], v, colors[p[0]]})
			}
		}
		if len(g.bars) > 0 {
			groups = append(groups, g)
		}
	}
	return barChart("Latency percentiles (medians of the runs)", "microseconds", groups, true, func(v float64) string {
		if v == 0 {
			return "< 1 ms (no bar: whole ms)"
		}
		if v >= 1000 {
			return fmt.Sprintf("%.2f ms", v/1000)
		}
		return fmt.Sprintf("%.0f µs", v)
	})
}

func scalingChart(d data) string {
	g := barGroup{title: "LogBroker, produce 100 B, batches of 1,000, same producers"}
	for _, p := range []int{1, 8, 64, 1024} {
		if v, ok := d.median("logbroker", fmt.Sprintf("produce-100B-p%d", p), "records_per_sec"); ok {
			g.bars = append(g.bars, bar{plural(p, "partition"), v, colors["logbroker"]})
		}
	}
	return barChart("Partition scaling: aggregate produce throughput", "records per second", []barGroup{g}, false,
		func(v float64) string { return group(int64(v)) + "/s" })
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return group(int64(n)) + " " + word + "s"
}
