package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

const benchHelp = `Measure a broker: produce and catch-up consume throughput, and the
end-to-end latency of live-tail consumers at a fixed rate.

Usage:
  lb bench [WORKLOAD...] [flags]

Workloads (default: all of them, in this order):
  produce   write records as fast as the broker takes them, in requests of
            --batch records, from --producers goroutines over --conns
            connections, round-robin over --partitions partitions. The topic
            (--topic) is deleted and created afresh.
  consume   read the topic from its start to its end, once with
            ConsumeBatches (one message per read batch) and once with Consume
            (one message per record), one stream per partition. An empty or
            missing topic is first filled with --records records (default
            1,000,000), untimed.
  latency   open loop: send --rate records a second, one record per Produce
            request (--produce-rpc: a unary Produce call each, or a message
            on a ProduceStream), each stamped with its scheduled send time,
            while one live-tail consumer per partition reads them. Latency
            runs from the scheduled time to the moment a consumer has the
            record, so a stall anywhere counts in full (no coordinated
            omission). Uses the topic TOPIC-latency, created afresh; the
            first --warmup is not counted. Up to 20,000 records/s this client
            runs on one P (GOMAXPROCS=1) unless GOMAXPROCS is set: fewer
            thread wake-ups of its own.

With --broker-pid (a broker on this machine), the broker's CPU seconds per
million records and its resident memory come from /proc/PID.

A progress line goes to standard error once a second (--quiet: none); the
summary table, or with --json one JSON document, goes to standard output.
If any request failed, or a record the broker acknowledged never reached a
live-tail consumer, the figures are still printed and lb exits with status 1.

Examples:
  lb bench produce --records 10000000 --batch 1000 --record-size 100
  lb bench produce --partitions 64 --producers 4 --duration 20s --json
  lb bench consume --topic lb-bench
  lb bench latency --rate 10000 --duration 30s --broker-pid $(pgrep -n broker)
`

// jsonDuration prints as "1.5s" in --json output.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = jsonDuration(v)
	return err
}

// benchConfig is every knob of a run; --json prints it with the results.
type benchConfig struct {
	Workloads  []string     `json:"workloads"`
	Addr       string       `json:"addr"`
	Topic      string       `json:"topic"`
	Partitions int          `json:"partitions"`
	Producers  int          `json:"producers"`
	Conns      int          `json:"conns"`
	RecordSize int          `json:"record_size"`
	Batch      int          `json:"batch"`
	API        string       `json:"api"`
	Linger     jsonDuration `json:"linger"`
	Acks       string       `json:"acks"`
	Duration   jsonDuration `json:"duration"`
	Records    int64        `json:"records"`
	MaxBytes   uint32       `json:"max_bytes"`
	Consumers  int          `json:"consumers"`
	ConsumeAPI string       `json:"consume_api"`
	Rate       float64      `json:"rate"`
	Warmup     jsonDuration `json:"warmup"`
	Pacer      string       `json:"pacer"`
	ProduceRPC string       `json:"produce_rpc"`
	BrokerPID  int          `json:"broker_pid,omitempty"`

	acks  pb.Acks
	quiet bool
}

var benchWorkloads = []string{"produce", "consume", "latency"}

// defaultFillRecords fills an empty topic before a consume-only run.
const defaultFillRecords = 1_000_000

func runBench(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb bench", line: "lb bench [produce|consume|latency...] [flags]", text: benchHelp}
	fs := e.flagSet(u.name)
	cfg := benchConfig{}
	fs.StringVar(&cfg.Topic, "topic", "lb-bench", "topic `NAME` to write and read")
	fs.IntVar(&cfg.Partitions, "partitions", 1, "`N` partitions of the topic")
	fs.IntVar(&cfg.Producers, "producers", 1, "`N` concurrent producers, each with one request in flight")
	fs.IntVar(&cfg.Conns, "conns", 1, "`N` connections to the broker, shared round-robin by producers and consumers")
	fs.IntVar(&cfg.RecordSize, "record-size", 100, "value size in `BYTES`")
	fs.IntVar(&cfg.Batch, "batch", 1000, "`N` records per Produce request")
	fs.StringVar(&cfg.API, "api", "direct", "produce `API`: direct (ready-made requests of --batch records) or producer (the client's batching Producer, with --linger)")
	linger := fs.Duration("linger", 0, "with --api producer: how long a partial batch waits for more records")
	acksText := fs.String("acks", "leader", "`MODE`: leader or none")
	duration := fs.Duration("duration", 10*time.Second, "how long produce and latency run (produce stops earlier at --records)")
	fs.Int64Var(&cfg.Records, "records", 0, "produce at most `N` records (0: until --duration)")
	maxBytes := fs.Uint("max-bytes", 0, "largest read batch in `BYTES` for consume (0: the broker's default)")
	fs.IntVar(&cfg.Consumers, "consumers", 0, "`N` consume streams at once (0: one per partition, at most 16)")
	fs.StringVar(&cfg.ConsumeAPI, "consume-api", "both", "consume through `API`: batches (ConsumeBatches), entries (Consume) or both")
	fs.Float64Var(&cfg.Rate, "rate", 10000, "latency: `RECORDS` per second, open loop")
	warmup := fs.Duration("warmup", 2*time.Second, "latency: leading `DURATION` not counted")
	fs.StringVar(&cfg.ProduceRPC, "produce-rpc", "unary", "latency: `RPC` that sends each record: unary (one Produce call each) or stream (one message each on a ProduceStream per sender)")
	fs.StringVar(&cfg.Pacer, "pacer", "sleep", "latency: `MODE` in which the sender waits for each due time: sleep (nanosleep) or spin (busy-waits the last 2 ms on one core: steadier where waking an idle CPU is slow, as in VMs, at the cost of that core)")
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "`PID` of the broker process on this machine, for its CPU and memory")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the table")
	cpuProfile := fs.String("cpuprofile", "", "write this client's CPU profile to `FILE` (go tool pprof)")
	fs.BoolVar(&cfg.quiet, "quiet", false, "no progress line on standard error")
	pos, err := e.parse(fs, u, args)
	if err != nil {
		return err
	}
	cfg.Linger, cfg.Duration, cfg.Warmup = jsonDuration(*linger), jsonDuration(*duration), jsonDuration(*warmup)
	cfg.Addr, cfg.Acks, cfg.MaxBytes = e.addr, *acksText, uint32(*maxBytes)
	if err := cfg.check(pos); err != nil {
		return u.fail(err.Error())
	}
	if cfg.acks, err = parseAcks(*acksText); err != nil {
		return u.fail(err.Error())
	}
	if cfg.BrokerPID > 0 {
		if _, err := readProc("/proc", cfg.BrokerPID); err != nil {
			return fmt.Errorf("--broker-pid %d: %w (is it a process on this machine?)", cfg.BrokerPID, err)
		}
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	b, err := newBencher(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer b.close()
	rep := benchReport{Config: cfg}
	var runErr error
	for _, w := range cfg.Workloads {
		var rs []*benchResult
		switch w {
		case "produce":
			rs, runErr = b.produceWorkload(ctx)
		case "consume":
			rs, runErr = b.consumeWorkload(ctx)
		case "latency":
			rs, runErr = b.latencyWorkload(ctx)
		}
		rep.Results = append(rep.Results, rs...)
		if runErr != nil {
			break
		}
	}
	if len(rep.Results) > 0 {
		if *asJSON {
			if err := writeJSON(e.stdout, rep); err != nil {
				return err
			}
		} else if err := writeTable(e.stdout, rep); err != nil {
			return err
		}
	}
	if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C: the table shows what was measured so far
	}
	if runErr != nil {
		return runErr
	}
	return failedRequests(rep.Results)
}

// errBenchFailed is a run that finished but saw failed requests or lost
// records: its figures are printed, and the exit status says not to trust
// them, so that a script need not read the errors column.
var errBenchFailed = errors.New("bench")

func failedRequests(rs []*benchResult) error {
	var errs, missing int64
	for _, r := range rs {
		errs += r.Errors
		missing += r.Missing
	}
	switch {
	case errs > 0 && missing > 0:
		return fmt.Errorf("%w: %d requests failed and %d acknowledged records never arrived (see above)", errBenchFailed, errs, missing)
	case errs > 0:
		return fmt.Errorf("%w: %d requests failed (see above)", errBenchFailed, errs)
	case missing > 0:
		return fmt.Errorf("%w: %d acknowledged records never arrived (see above)", errBenchFailed, missing)
	}
	return nil
}

func (c *benchConfig) check(pos []string) error {
	if len(pos) == 0 {
		c.Workloads = benchWorkloads
	}
	for _, p := range pos {
		if p == "all" {
			c.Workloads = benchWorkloads
			break
		}
		if !slices.Contains(benchWorkloads, p) {
			return fmt.Errorf("unknown workload %q: want produce, consume, latency or all", p)
		}
		if !slices.Contains(c.Workloads, p) {
			c.Workloads = append(c.Workloads, p)
		}
	}
	switch {
	case c.Partitions < 1 || c.Partitions > 1<<20:
		return fmt.Errorf("--partitions %d: want 1 or more", c.Partitions)
	case c.Producers < 1:
		return fmt.Errorf("--producers %d: want 1 or more", c.Producers)
	case c.Conns < 1:
		return fmt.Errorf("--conns %d: want 1 or more", c.Conns)
	case c.RecordSize < 1:
		return fmt.Errorf("--record-size %d: want 1 or more", c.RecordSize)
	case c.RecordSize < latencyStampBytes && slices.Contains(c.Workloads, "latency"):
		return fmt.Errorf("--record-size %d: want %d or more for latency (the stamp needs them)", c.RecordSize, latencyStampBytes)
	case c.RecordSize > 16<<20:
		return fmt.Errorf("--record-size %d: want at most 16 MiB", c.RecordSize)
	case c.Batch < 1:
		return fmt.Errorf("--batch %d: want 1 or more", c.Batch)
	case c.API != "direct" && c.API != "producer":
		return fmt.Errorf("--api %q: want direct or producer", c.API)
	case c.Linger < 0 || (c.Linger > 0 && c.API != "producer"):
		return fmt.Errorf("--linger %s: wants --api producer, and 0 or more", time.Duration(c.Linger))
	case c.Duration <= 0:
		return fmt.Errorf("--duration %s: want more than 0", time.Duration(c.Duration))
	case c.Records < 0:
		return fmt.Errorf("--records %d: want 0 or more", c.Records)
	case c.Consumers < 0:
		return fmt.Errorf("--consumers %d: want 0 or more", c.Consumers)
	case c.ConsumeAPI != "batches" && c.ConsumeAPI != "entries" && c.ConsumeAPI != "both":
		return fmt.Errorf("--consume-api %q: want batches, entries or both", c.ConsumeAPI)
	case c.Rate <= 0 || c.Rate > 10_000_000:
		return fmt.Errorf("--rate %g: want more than 0 and at most 10,000,000", c.Rate)
	case c.Warmup < 0 || c.Warmup >= c.Duration:
		return fmt.Errorf("--warmup %s: want 0 or more and less than --duration", time.Duration(c.Warmup))
	case c.ProduceRPC != "unary" && c.ProduceRPC != "stream":
		return fmt.Errorf("--produce-rpc %q: want unary or stream", c.ProduceRPC)
	case c.Pacer != "sleep" && c.Pacer != "spin":
		return fmt.Errorf("--pacer %q: want sleep or spin", c.Pacer)
	case c.BrokerPID < 0:
		return fmt.Errorf("--broker-pid %d: want a process id", c.BrokerPID)
	}
	if c.Consumers == 0 {
		c.Consumers = min(c.Partitions, 16)
	}
	return nil
}

// bencher runs workloads over a set of connections.
type bencher struct {
	e     *env
	cfg   benchConfig
	conns []*client.Client
	proc  string // /proc, or a fake in tests
}

func newBencher(ctx context.Context, e *env, cfg benchConfig) (*bencher, error) {
	b := &bencher{e: e, cfg: cfg, proc: "/proc"}
	for range cfg.Conns {
		c, err := e.dial(ctx)
		if err != nil {
			b.close()
			return nil, err
		}
		b.conns = append(b.conns, c)
	}
	return b, nil
}

func (b *bencher) close() {
	for _, c := range b.conns {
		_ = c.Close()
	}
}

func (b *bencher) conn(i int) pb.BrokerServiceClient { return b.conns[i%len(b.conns)].Broker() }

// recreate deletes topic if it exists and creates it with n partitions.
func (b *bencher) recreate(ctx context.Context, topic string, n int) error {
	c := b.conns[0]
	rctx, cancel := b.e.withTimeout(ctx)
	defer cancel()
	if err := c.DeleteTopic(rctx, topic); err != nil && status.Code(err) != codes.NotFound {
		return fmt.Errorf("delete topic %s before the run: %w", topic, err)
	}
	if _, err := c.CreateTopic(rctx, topic, uint32(n)); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// meter counts what a workload moved, for the progress line and the result.
type meter struct {
	records, bytes atomic.Int64
}

// watch runs alongside one workload: it prints the progress line once a
// second and samples the broker's memory. Stop it with stop, which returns
// the broker's usage over the workload (nil without --broker-pid).
type watch struct {
	b        *bencher
	name     string
	m        *meter
	start    time.Time
	before   procStat
	rssMax   atomic.Int64
	done     chan struct{}
	wg       sync.WaitGroup
	terminal bool
}

func (b *bencher) startWatch(name string, m *meter) *watch {
	w := &watch{b: b, name: name, m: m, start: time.Now(), done: make(chan struct{})}
	if f, ok := b.e.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			w.terminal = true
		}
	}
	if pid := b.cfg.BrokerPID; pid > 0 {
		if st, err := readProc(b.proc, pid); err == nil {
			w.before = st
			w.rssMax.Store(st.RSS)
		}
	}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *watch) loop() {
	defer w.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastN int64
	last := w.start
	for {
		select {
		case <-w.done:
			if !w.b.cfg.quiet && w.terminal {
				fmt.Fprint(w.b.e.stderr, "\r\033[K")
			}
			return
		case now := <-t.C:
			w.sample()
			if w.b.cfg.quiet {
				continue
			}
			n := w.m.records.Load()
			rate := float64(n-lastN) / now.Sub(last).Seconds()
			lastN, last = n, now
			line := fmt.Sprintf("lb bench: %-16s %6.1fs %14s records %12s records/s", w.name,
				now.Sub(w.start).Seconds(), group(n), group(int64(rate)))
			if pid := w.b.cfg.BrokerPID; pid > 0 {
				line += fmt.Sprintf("  broker RSS %4d MiB", w.rssMax.Load()>>20)
			}
			if w.terminal {
				fmt.Fprint(w.b.e.stderr, "\r\033[K"+line)
			} else {
				fmt.Fprintln(w.b.e.stderr, line)
			}
		}
	}
}

func (w *watch) sample() {
	if pid := w.b.cfg.BrokerPID; pid > 0 {
		if st, err := readProc(w.b.proc, pid); err == nil && st.RSS > w.rssMax.Load() {
			w.rssMax.Store(st.RSS)
		}
	}
}

// stop ends the watch and fills r's broker usage for r.Records records.
func (w *watch) stop(r *benchResult) {
	close(w.done)
	w.wg.Wait()
	pid := w.b.cfg.BrokerPID
	if pid <= 0 {
		return
	}
	after, err := readProc(w.b.proc, pid)
	if err != nil {
		fmt.Fprintf(w.b.e.stderr, "lb bench: broker usage for %s not measured: %v\n", w.name, err)
		return
	}
	cpu := (after.CPU - w.before.CPU).Seconds()
	u := &brokerUsage{
		CPUSeconds: cpu,
		RSSMaxMiB:  float64(max(w.rssMax.Load(), after.RSS)) / (1 << 20),
		RSSPeakMiB: float64(after.RSSMax) / (1 << 20),
	}
	if r.Records > 0 {
		u.CPUSecondsPerMillion = cpu / (float64(r.Records) / 1e6)
	}
	r.Broker = u
}

// payload makes n bytes that do not compress, the same in every run.
func payload(n int) []byte {
	p := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
	return p
}
