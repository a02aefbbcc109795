package test

// The process harness: a real cmd/broker, built once per test binary and run
// as a child process on 127.0.0.1 with its own data directory. Tests in this
// package that need a process (faults, signals, fd limits, RSS) use it:
//
//	b := StartProcBroker(t, ProcOptions{Args: []string{"--segment-bytes=65536"}})
//	b.Client().CreateTopic(ctx, ...)
//	b.Kill()  // SIGKILL, waits for the exit
//	b.Start() // same data dir, new port
//
// A ProcBroker's methods are for the test goroutine; Client and Conn may be
// used from any goroutine until the next Start, Kill or Terminate.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/logbroker/logbroker/pb"
)

// procWait bounds the harness's own waits (start, exit). It is generous: the
// machine is shared, and nothing sleeps for it.
const procWait = 2 * time.Minute

// ProcOptions configures a broker process. Zero fields take defaults.
type ProcOptions struct {
	// DataDir is the broker's --data-dir; "" makes a t.TempDir().
	DataDir string
	// Args are extra broker flags, after the harness's own (--addr,
	// --data-dir, --log-format=json), so a later flag wins. Keep
	// --log-format json: the harness reads the start line from the log.
	Args []string
	// NoFile, if set, runs the broker under `prlimit --nofile=N:N` (soft and
	// hard, since Go raises its soft limit to the hard one at start).
	NoFile uint64
	// StartTimeout bounds the wait for health SERVING; default procWait.
	StartTimeout time.Duration
}

// StartInfo is what the broker's "broker started" log line says, plus the
// wall time the harness measured from exec to health SERVING.
type StartInfo struct {
	Addr            string  `json:"addr"`
	KafkaAddr       string  `json:"kafka_addr"` // "" when the listener is off
	Clean           bool    `json:"clean"`
	Topics          int     `json:"topics"`
	Partitions      int     `json:"partitions"`
	Segments        int     `json:"segments"`
	ScannedSegments int     `json:"scanned_segments"`
	ScannedBytes    int64   `json:"scanned_bytes"`
	TruncatedBytes  int64   `json:"truncated_bytes"`
	RecoveryMs      float64 `json:"recovery_ms"`
	// Took is exec to health SERVING, measured by the harness.
	Took time.Duration `json:"-"`
}

// Exit is how a broker process ended.
type Exit struct {
	Code   int            // exit status; -1 when killed by a signal
	Signal syscall.Signal // the signal that killed it, if any
	Took   time.Duration  // from the signal the harness sent to the exit
}

func (e Exit) String() string {
	if e.Code < 0 {
		return fmt.Sprintf("killed by %v after %s", e.Signal, e.Took)
	}
	return fmt.Sprintf("exit %d after %s", e.Code, e.Took)
}

// ProcBroker is a broker child process and the data directory it outlives:
// Start may be called again after it exits.
type ProcBroker struct {
	t    testing.TB
	opts ProcOptions
	bin  string
	// DataDir is the broker's data directory.
	DataDir string
	runs    int
	p       *brokerProc   // current or last run; nil before the first Start
	all     []*brokerProc // every run, in order, so that cleanup scans each log
}

// brokerProc is one run of the broker.
type brokerProc struct {
	cmd     *exec.Cmd
	logPath string
	started chan StartInfo // the start line, once
	done    chan struct{}  // closed once the process exited and its log is drained
	state   *os.ProcessState
	info    StartInfo
	conn    *grpc.ClientConn
	client  pb.BrokerServiceClient

	mu      sync.Mutex // guards panics and watches, shared with the log reader
	panics  []string
	watches []*logWatch
}

// logWatch waits for the first log line that matches.
type logWatch struct {
	match func(map[string]any) bool
	ch    chan map[string]any // capacity 1; gets the line, then the watch ends
}

// StartProcBroker builds the broker (once per test binary), starts it and
// waits until it is SERVING. At the end of the test it is killed if still
// running, and the test fails if its log mentions a panic.
func StartProcBroker(t testing.TB, opts ProcOptions) *ProcBroker {
	t.Helper()
	b := NewProcBroker(t, opts)
	b.Start()
	return b
}

// NewProcBroker prepares a broker without starting it (to place files in
// its data directory first, say).
func NewProcBroker(t testing.TB, opts ProcOptions) *ProcBroker {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = procWait
	}
	b := &ProcBroker{t: t, opts: opts, bin: BuildBinary(t, "./cmd/broker"), DataDir: opts.DataDir}
	t.Cleanup(b.cleanup)
	return b
}

// Start runs the broker on DataDir and a fresh port and waits for health
// SERVING. The previous run must have exited.
func (b *ProcBroker) Start() StartInfo {
	t := b.t
	t.Helper()
	info, err := b.TryStart()
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	return info
}

// TryStart is Start returning its error, for tests that expect a start to
// fail. A broker that exited is reaped; one that did not get SERVING is killed.
func (b *ProcBroker) TryStart() (StartInfo, error) {
	t := b.t
	t.Helper()
	if b.Running() {
		t.Fatalf("start broker: run %d is still running", b.runs)
	}
	b.runs++
	args := []string{"--addr=127.0.0.1:0", "--kafka-addr=127.0.0.1:0", "--data-dir=" + b.DataDir, "--log-format=json"}
	args = append(args, b.opts.Args...)
	name := b.bin
	if b.opts.NoFile > 0 {
		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			skipOrFailInCI(t, "NoFile needs prlimit (Debian package util-linux): %v", err)
		}
		n := strconv.FormatUint(b.opts.NoFile, 10)
		args = append([]string{"--nofile=" + n + ":" + n, "--", b.bin}, args...)
		name = prlimit
	}
	cmd := exec.Command(name, args...)
	cmd.Env = brokerEnv()
	// If the test binary dies, so does the broker.
	cmd.SysProcAttr = dieWithTest()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("broker stderr pipe: %v", err)
	}
	p := &brokerProc{
		cmd:     cmd,
		logPath: filepath.Join(logDir(t), fmt.Sprintf("broker-%d.log", b.runs)),
		started: make(chan StartInfo, 1),
		done:    make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatalf("broker log: %v", err)
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", b.bin, err)
	}
	b.p = p
	b.all = append(b.all, p)
	go p.readLog(stderr, logFile)

	ctx, cancel := context.WithTimeout(context.Background(), b.opts.StartTimeout)
	defer cancel()
	select {
	case p.info = <-p.started:
	case <-p.done:
		return StartInfo{}, fmt.Errorf("broker exited before starting (%s); log %s:\n%s", p.state, p.logPath, b.tail(40))
	case <-ctx.Done():
		b.Kill()
		return StartInfo{}, fmt.Errorf("no start line within %s; log %s:\n%s", b.opts.StartTimeout, p.logPath, b.tail(40))
	}
	p.conn, err = grpc.NewClient("passthrough:///"+p.info.Addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		b.Kill()
		return StartInfo{}, fmt.Errorf("dial %s: %w", p.info.Addr, err)
	}
	p.client = pb.NewBrokerServiceClient(p.conn)
	if err := waitServing(ctx, p.conn, p.done); err != nil {
		b.Kill()
		return StartInfo{}, fmt.Errorf("broker at %s not SERVING: %w; log:\n%s", p.info.Addr, err, b.tail(40))
	}
	p.info.Took = time.Since(began)
	return p.info, nil
}

func waitServing(ctx context.Context, conn *grpc.ClientConn, exited <-chan struct{}) error {
	h := healthpb.NewHealthClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := h.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-exited:
			return errors.New("broker exited")
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v %v)", ctx.Err(), resp.GetStatus(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readLog copies the broker's stderr to its log file, sends the start line
// once, notes every line that mentions a panic, then reaps the process.
func (p *brokerProc) readLog(stderr io.Reader, logFile *os.File) {
	defer close(p.done)
	w := bufio.NewWriter(logFile)
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		w.Write(line)
		w.WriteByte('\n')
		p.mu.Lock()
		if bytes.Contains(bytes.ToLower(line), []byte("panic")) {
			p.panics = append(p.panics, string(line))
		}
		p.notify(line)
		p.mu.Unlock()
		if !sent && bytes.Contains(line, []byte(`"broker started"`)) {
			var info StartInfo
			if json.Unmarshal(line, &info) == nil {
				p.started <- info
				sent = true
			}
		}
		// Flushed per line, so LogLines sees what the broker said so far.
		w.Flush()
	}
	// The pipe may be cut by a line over the scanner's limit: drain it so
	// the broker never blocks on a full pipe.
	io.Copy(w, stderr)
	w.Flush()
	logFile.Close()
	p.cmd.Wait()
	p.state = p.cmd.ProcessState
}

// notify hands line to the watches it matches; p.mu is held.
func (p *brokerProc) notify(line []byte) {
	if len(p.watches) == 0 {
		return
	}
	var m map[string]any
	if json.Unmarshal(line, &m) != nil {
		return
	}
	kept := p.watches[:0]
	for _, w := range p.watches {
		if w.match(m) {
			w.ch <- m
			continue
		}
		kept = append(kept, w)
	}
	p.watches = kept
}

// WatchLog returns a channel that gets the current run's first JSON log
// line, from now on, for which match is true. match runs on the log
// reader's goroutine.
func (b *ProcBroker) WatchLog(match func(line map[string]any) bool) <-chan map[string]any {
	w := &logWatch{match: match, ch: make(chan map[string]any, 1)}
	b.p.mu.Lock()
	b.p.watches = append(b.p.watches, w)
	b.p.mu.Unlock()
	return w.ch
}

// brokerEnv is the test's environment without LOGBROKER_* variables, which
// would set broker flags (and LOGBROKER_LONG etc. are the tests' own).
func brokerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOGBROKER_") {
			env = append(env, kv)
		}
	}
	return env
}

// logDir keeps the broker logs of a test: LOGBROKER_TEST_LOGS/<test name> if
// set (so they outlive the run), else a t.TempDir().
func logDir(t testing.TB) string {
	if d := os.Getenv("LOGBROKER_TEST_LOGS"); d != "" {
		dir := filepath.Join(d, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
		if err := os.MkdirAll(dir, 0o755); err == nil {
			return dir
		}
	}
	return t.TempDir()
}

// Running says whether the current run has not exited yet.
func (b *ProcBroker) Running() bool {
	if b.p == nil {
		return false
	}
	select {
	case <-b.p.done:
		return false
	default:
		return true
	}
}

// Started is the start line of the current run.
func (b *ProcBroker) Started() StartInfo { return b.p.info }

// Addr is the current run's gRPC address (host:port).
func (b *ProcBroker) Addr() string { return b.p.info.Addr }

// KafkaAddr is the current run's Kafka protocol address (host:port).
func (b *ProcBroker) KafkaAddr() string { return b.p.info.KafkaAddr }

// PID is the current run's process id.
func (b *ProcBroker) PID() int { return b.p.cmd.Process.Pid }

// Conn is a client connection to the current run, closed when it stops.
func (b *ProcBroker) Conn() *grpc.ClientConn { return b.p.conn }

// Client is the BrokerService client on Conn.
func (b *ProcBroker) Client() pb.BrokerServiceClient { return b.p.client }

// Dial opens a further connection to the current run (each has its own
// HTTP/2 flow control); it is closed when the test ends.
func (b *ProcBroker) Dial(opts ...grpc.DialOption) *grpc.ClientConn {
	b.t.Helper()
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
	}, opts...)
	conn, err := grpc.NewClient("passthrough:///"+b.Addr(), opts...)
	if err != nil {
		b.t.Fatalf("dial %s: %v", b.Addr(), err)
	}
	b.t.Cleanup(func() { conn.Close() })
	return conn
}

// Signal sends sig to the current run.
func (b *ProcBroker) Signal(sig syscall.Signal) {
	b.t.Helper()
	if err := b.p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		b.t.Fatalf("signal %v to broker: %v", sig, err)
	}
}

// Kill sends SIGKILL and waits for the exit.
func (b *ProcBroker) Kill() Exit {
	b.t.Helper()
	if b.p == nil {
		return Exit{}
	}
	return b.stop(syscall.SIGKILL, procWait)
}

// Terminate sends SIGTERM and waits up to wait for the exit; past that it
// fails the test and kills the broker.
func (b *ProcBroker) Terminate(wait time.Duration) Exit {
	b.t.Helper()
	return b.stop(syscall.SIGTERM, wait)
}

func (b *ProcBroker) stop(sig syscall.Signal, wait time.Duration) Exit {
	t := b.t
	t.Helper()
	p := b.p
	began := time.Now()
	if b.Running() {
		b.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("broker did not exit within %s of %v; killed. log %s:\n%s", wait, sig, p.logPath, b.tail(40))
	}
	took := time.Since(began)
	if p.conn != nil {
		p.conn.Close()
	}
	return exitOf(p.state, took)
}

// Wait waits up to wait for the current run to exit by itself.
func (b *ProcBroker) Wait(wait time.Duration) (Exit, bool) {
	began := time.Now()
	select {
	case <-b.p.done:
		if b.p.conn != nil {
			b.p.conn.Close()
		}
		return exitOf(b.p.state, time.Since(began)), true
	case <-time.After(wait):
		return Exit{}, false
	}
}

func exitOf(st *os.ProcessState, took time.Duration) Exit {
	e := Exit{Code: -1, Took: took}
	if st == nil {
		return e
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal()
		return e
	}
	e.Code = st.ExitCode()
	return e
}

// cleanup kills a broker still running and fails the test on a panic in
// the log of any run, not only the last: a test that restarts the broker
// would otherwise miss a panic before the restart.
func (b *ProcBroker) cleanup() {
	if b.p == nil {
		return
	}
	if b.Running() {
		b.p.cmd.Process.Kill()
		<-b.p.done
	}
	if b.p.conn != nil {
		b.p.conn.Close()
	}
	if ps := b.Panics(); len(ps) > 0 {
		b.t.Errorf("broker logs mention a panic %d times over %d runs; first: %s", len(ps), len(b.all), ps[0])
	}
}

// Panics are the log lines of every run so far that mention "panic", each
// prefixed with its run's log file. A run still going may add more.
func (b *ProcBroker) Panics() []string {
	var out []string
	for _, p := range b.all {
		p.mu.Lock()
		for _, line := range p.panics {
			out = append(out, p.logPath+": "+line)
		}
		p.mu.Unlock()
	}
	return out
}

// LogPath is the file holding the current run's stderr (complete once the
// run has exited).
func (b *ProcBroker) LogPath() string { return b.p.logPath }

// LogLines returns the current run's JSON log lines (as written so far and
// flushed; complete after exit) for which keep is true (nil: all).
func (b *ProcBroker) LogLines(keep func(map[string]any) bool) []map[string]any {
	data, err := os.ReadFile(b.p.logPath)
	if err != nil {
		b.t.Fatalf("read broker log: %v", err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && (keep == nil || keep(m)) {
			out = append(out, m)
		}
	}
	return out
}

// tail is the last n lines of the current run's log.
func (b *ProcBroker) tail(n int) string {
	data, _ := os.ReadFile(b.p.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Mem is the broker's memory from /proc/<pid>/status, in bytes.
type Mem struct {
	RSS  int64 // VmRSS, now
	Peak int64 // VmHWM, the peak RSS of this run so far
}

// Mem reads the current run's memory figures.
func (b *ProcBroker) Mem() Mem {
	b.t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.PID()))
	if err != nil {
		b.t.Fatalf("broker memory: %v", err)
	}
	var m Mem
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.RSS = n << 10
		case "VmHWM:":
			m.Peak = n << 10
		}
	}
	return m
}

// OpenFiles is how many file descriptors the current run holds.
func (b *ProcBroker) OpenFiles() int {
	b.t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.PID()))
	if err != nil {
		b.t.Fatalf("broker fds: %v", err)
	}
	return len(ents)
}

// --- building binaries ---

var builds struct {
	mu  sync.Mutex
	dir string
	m   map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// BuildBinary builds the main package pkg (relative to the module root,
// e.g. "./cmd/lb") once per test binary and returns the executable's path.
// LOGBROKER_BROKER_RACE=1 builds it with -race.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	builds.mu.Lock()
	if builds.m == nil {
		builds.m = map[string]*build{}
	}
	bd := builds.m[pkg]
	if bd == nil {
		bd = &build{}
		builds.m[pkg] = bd
	}
	builds.mu.Unlock()
	bd.once.Do(func() { bd.path, bd.err = goBuild(pkg) })
	if bd.err != nil {
		t.Fatalf("build %s: %v", pkg, bd.err)
	}
	return bd.path
}

func goBuild(pkg string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", out}
	if os.Getenv("LOGBROKER_BROKER_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	return out, nil
}

// binDir is one temporary directory per test binary for built executables,
// named with the pid; directories left by test binaries that have exited
// are removed (there is no TestMain hook to remove them at exit).
func binDir() (string, error) {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		return builds.dir, nil
	}
	const prefix = "logbroker-test-bin-"
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"*"))
	for _, d := range old {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(d), prefix), "-", 2)[0])
		if err == nil && pid != os.Getpid() && processGone(pid) {
			os.RemoveAll(d)
		}
	}
	d, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if err != nil {
		return "", err
	}
	builds.dir = d
	return d, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// TestProcBroker checks the harness itself: start, serve, stop cleanly,
// start again clean on the same data, and crash.
func TestProcBroker(t *testing.T) {
	b := StartProcBroker(t, ProcOptions{})
	if b.Started().Clean || b.Started().Topics != 0 {
		t.Errorf("first start = %+v, want a new, empty data dir", b.Started())
	}
	ctx, cancel := context.WithTimeout(context.Background(), procWait)
	defer cancel()
	if _, err := b.Client().CreateTopic(ctx, &pb.CreateTopicRequest{Name: "smoke", Partitions: 2}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if _, err := b.Client().Produce(ctx, &pb.ProduceRequest{Topic: "smoke", Records: []*pb.Record{{Value: []byte("v")}}}); err != nil {
		t.Fatalf("Produce: %v", err)
	}
	if m := b.Mem(); m.RSS <= 0 || m.Peak < m.RSS {
		t.Errorf("Mem = %+v", m)
	}
	if n := b.OpenFiles(); n <= 0 {
		t.Errorf("OpenFiles = %d", n)
	}
	if e := b.Terminate(30 * time.Second); e.Code != 0 {
		t.Fatalf("SIGTERM: %v, want exit 0; log:\n%s", e, b.tail(20))
	}
	info := b.Start()
	if !info.Clean || info.Topics != 1 || info.Partitions != 2 || info.ScannedSegments != 0 {
		t.Errorf("restart after SIGTERM = %+v, want clean, 1 topic, 2 partitions, 0 scanned", info)
	}
	if e := b.Kill(); e.Signal != syscall.SIGKILL {
		t.Errorf("Kill: %v", e)
	}
	if info := b.Start(); info.Clean {
		t.Errorf("restart after SIGKILL = %+v, want not clean", info)
	}
}

// errorsTB records Errorf instead of failing, so that a test can check
// what the harness reports at cleanup.
type errorsTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

// TestProcBrokerScansEveryRun checks that the harness scans every run's
// log, not only the last: the first run logs a line with "panic" in it (a
// topic named so; the broker logs every topic it creates), the second is
// clean, and cleanup must report the first. (The test name keeps clear
// of the word: the data directory, named after it, is in every log.)
func TestProcBrokerScansEveryRun(t *testing.T) {
	rec := &errorsTB{TB: t}
	b := StartProcBroker(rec, ProcOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), procWait)
	defer cancel()
	if _, err := b.Client().CreateTopic(ctx, &pb.CreateTopicRequest{Name: "panic-marker", Partitions: 1}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	first := b.LogPath()
	b.Kill()
	b.Start()
	b.cleanup()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], first) || !strings.Contains(rec.errs[0], "panic-marker") {
		t.Errorf("cleanup after a run whose log mentions a panic reported %q, want one error naming %s", rec.errs, first)
	}
}
