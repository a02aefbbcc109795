package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// latencySummary is a set of exact percentiles over every kept sample
// (nearest rank: the smallest sample with at least p% of samples at or
// below it). Samples are kept whole rather than bucketed because a run holds
// at most a few million of them, and exact figures need no error bars.
type latencySummary struct {
	Count  int64   `json:"count"`
	MeanUs float64 `json:"mean_us"`
	P50Us  float64 `json:"p50_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p99_9_us"`
	MaxUs  float64 `json:"max_us"`
}

// summarize sorts samples in place and returns their percentiles.
func summarize(samples []time.Duration) latencySummary {
	if len(samples) == 0 {
		return latencySummary{}
	}
	slices.Sort(samples)
	var sum float64
	for _, s := range samples {
		sum += float64(s)
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return latencySummary{
		Count:  int64(len(samples)),
		MeanUs: sum / float64(len(samples)) / float64(time.Microsecond),
		P50Us:  us(percentile(samples, 50)),
		P99Us:  us(percentile(samples, 99)),
		P999Us: us(percentile(samples, 99.9)),
		MaxUs:  us(samples[len(samples)-1]),
	}
}

// percentile is the nearest-rank p-th percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[nearestRank(p, len(sorted))-1]
}

// nearestRank is the 1-based rank of the p-th percentile of n samples. The
// epsilon, relative to the rank, keeps float error (99.9/100*1000 =
// 999.0000000000001) from pushing the rank up by one, at any n.
func nearestRank(p float64, n int) int {
	exact := p / 100 * float64(n)
	return min(max(int(math.Ceil(exact-exact*1e-12)), 1), n)
}

// sampleCap bounds the latency samples one run keeps (8 bytes each), so a
// long run cannot grow memory without bound; past it, samples are dropped
// and the summary says how many were kept.
const sampleCap = 20_000_000

// samples collects durations for one goroutine; merge them at the end.
type samples struct{ d []time.Duration }

func (s *samples) add(d time.Duration) {
	if len(s.d) < sampleCap {
		s.d = append(s.d, d)
	}
}

func merge(parts ...*samples) []time.Duration {
	n := 0
	for _, p := range parts {
		n += len(p.d)
	}
	out := make([]time.Duration, 0, n)
	for _, p := range parts {
		out = append(out, p.d...)
	}
	return out
}

// procStat is what /proc tells about a process: CPU time and memory.
type procStat struct {
	CPU    time.Duration // user + system
	RSS    int64         // bytes resident now
	RSSMax int64         // peak resident bytes since the process started (VmHWM)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every
// Linux architecture Go supports (the kernel fixes it for user space).
const clockTicks = 100

var errNoProc = errors.New("bench: cannot read process statistics")

// readProc reads /proc/<pid>/stat and /proc/<pid>/status under root
// ("/proc" outside tests).
func readProc(root string, pid int) (procStat, error) {
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", root, pid))
	if err != nil {
		return procStat{}, fmt.Errorf("%w: %w", errNoProc, err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procStat{}, err
	}
	st := procStat{CPU: cpu}
	status, err := os.ReadFile(fmt.Sprintf("%s/%d/status", root, pid))
	if err != nil {
		return procStat{}, fmt.Errorf("%w: %w", errNoProc, err)
	}
	st.RSS, st.RSSMax = parseStatusKB(status, "VmRSS:")*1024, parseStatusKB(status, "VmHWM:")*1024
	return st, nil
}

// parseStatCPU reads utime+stime (fields 14 and 15) from a stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no ')': %q", errNoProc, stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields after the name, want 13 or more", errNoProc, len(f))
	}
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: utime/stime: %w", errNoProc, err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseStatusKB returns the "NAME: N kB" value of /proc/<pid>/status, or 0.
func parseStatusKB(status []byte, name string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// result is one workload's outcome, one row of the summary table.
type benchResult struct {
	Name          string          `json:"name"`
	Records       int64           `json:"records"`
	Bytes         int64           `json:"bytes"` // payload bytes (values and keys)
	Seconds       float64         `json:"seconds"`
	RecordsPerSec float64         `json:"records_per_sec"`
	MBPerSec      float64         `json:"mb_per_sec"` // 10^6 payload bytes per second
	Errors        int64           `json:"errors"`
	FirstError    string          `json:"first_error,omitempty"`
	Latency       *latencySummary `json:"latency,omitempty"`     // produce: per request; latency: end to end
	AckLatency    *latencySummary `json:"ack_latency,omitempty"` // latency: scheduled send to ack
	SendLag       *latencySummary `json:"send_lag,omitempty"`    // latency: scheduled to actual send
	FromSend      *latencySummary `json:"from_send,omitempty"`   // latency: actual send to receipt (not corrected)
	Missing       int64           `json:"missing,omitempty"`     // latency: acked but never received
	TargetRate    float64         `json:"target_rate,omitempty"`
	ClientCPUSecs float64         `json:"client_cpu_seconds"`
	Broker        *brokerUsage    `json:"broker,omitempty"`
}

// brokerUsage is the broker's cost over one workload, from /proc.
type brokerUsage struct {
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million_records"`
	RSSMaxMiB            float64 `json:"rss_max_mib"`  // highest RSS sampled during the workload
	RSSPeakMiB           float64 `json:"rss_peak_mib"` // VmHWM: peak since the broker started
}

func (r *benchResult) finish(elapsed time.Duration) {
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(r.Records) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / r.Seconds / 1e6
	}
}

func (r *benchResult) fail(err error) {
	if r.Errors == 0 {
		r.FirstError = err.Error()
	}
	r.Errors++
}

// benchReport is what --json prints: the configuration and every result.
type benchReport struct {
	Config  benchConfig    `json:"config"`
	Results []*benchResult `json:"results"`
}

func writeJSON(w io.Writer, rep benchReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeTable prints the summary table for a person.
func writeTable(w io.Writer, rep benchReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\trecords\tseconds\trecords/s\tMB/s\tp50\tp99\tp99.9\tmax\tbroker CPU s/M rec\tbroker RSS MiB\terrors\t")
	for _, r := range rep.Results {
		p50, p99, p999, pmax := "-", "-", "-", "-"
		if l := r.Latency; l != nil && l.Count > 0 {
			p50, p99, p999, pmax = fmtUs(l.P50Us), fmtUs(l.P99Us), fmtUs(l.P999Us), fmtUs(l.MaxUs)
		}
		cpu, rss := "-", "-"
		if b := r.Broker; b != nil {
			cpu, rss = fmt.Sprintf("%.2f", b.CPUSecondsPerMillion), fmt.Sprintf("%.0f", b.RSSMaxMiB)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			r.Name, r.Records, r.Seconds, group(int64(math.Round(r.RecordsPerSec))), r.MBPerSec,
			p50, p99, p999, pmax, cpu, rss, r.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s: %d errors; the first: %s\n", r.Name, r.Errors, r.FirstError)
		}
		if r.TargetRate > 0 {
			fmt.Fprintf(w, "%s: target %s records/s open loop; latency counted from each record's scheduled send time\n",
				r.Name, group(int64(r.TargetRate)))
			if a := r.AckLatency; a != nil && a.Count > 0 {
				fmt.Fprintf(w, "  ack (scheduled send to produce ack): p50 %s  p99 %s  p99.9 %s  max %s\n",
					fmtUs(a.P50Us), fmtUs(a.P99Us), fmtUs(a.P999Us), fmtUs(a.MaxUs))
			}
			if s := r.FromSend; s != nil && s.Count > 0 {
				fmt.Fprintf(w, "  end to end from the actual send (without the schedule's delays): p50 %s  p99 %s  p99.9 %s  max %s\n",
					fmtUs(s.P50Us), fmtUs(s.P99Us), fmtUs(s.P999Us), fmtUs(s.MaxUs))
			}
			if s := r.SendLag; s != nil && s.Count > 0 {
				fmt.Fprintf(w, "  send lag (scheduled to actual send, the harness's own delay): p50 %s  p99 %s  max %s\n",
					fmtUs(s.P50Us), fmtUs(s.P99Us), fmtUs(s.MaxUs))
			}
			if r.Missing > 0 {
				fmt.Fprintf(w, "  %d acknowledged records were never received by the live-tail consumers\n", r.Missing)
			}
		}
	}
	return nil
}

// fmtUs prints microseconds as µs below 1 ms and ms above.
func fmtUs(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%.0fµs", us)
	case us < 100_000:
		return fmt.Sprintf("%.2fms", us/1000)
	default:
		return fmt.Sprintf("%.0fms", us/1000)
	}
}

// group writes n with thousands separators: 1234567 -> 1,234,567.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
