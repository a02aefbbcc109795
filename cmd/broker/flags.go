package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
)

// usageError is a bad flag, environment variable or argument (exit code 2).
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// envPrefix names the environment variable that backs each flag:
// --data-dir reads LOGBROKER_DATA_DIR.
const envPrefix = "LOGBROKER_"

// noEnv lists flags that no environment variable sets: LOGBROKER_VERSION is
// a plausible name for a deployment's own version string, and must not turn
// the daemon into a command that prints a version and exits.
var noEnv = map[string]bool{"version": true}

// config is the daemon's configuration, from flags and environment.
type config struct {
	addr            string
	dataDir         string
	segmentBytes    int64
	fsync           fsyncFlag
	fsyncInterval   time.Duration
	retentionBytes  int64
	retentionMs     int64
	maxRecordBytes  int
	maxPartitions   uint
	logLevel        levelFlag
	logFormat       formatFlag
	shutdownTimeout time.Duration
	metricsAddr     string
	maxOpenFiles    int
	version         bool

	kafkaAddr       string
	kafkaAdvertise  string
	kafkaAutoCreate bool

	groupMinSession   time.Duration
	groupMaxSession   time.Duration
	groupInitialDelay time.Duration
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads args, then fills every flag not given on the command line
// from its environment variable. --help prints usage to out and returns
// flag.ErrHelp. Errors are one line, of type usageError.
func parseFlags(args []string, lookupEnv func(string) (string, bool), out io.Writer) (config, error) {
	c := config{logLevel: levelFlag(zerolog.InfoLevel), logFormat: "console"}
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:9092", "gRPC listen `address`")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "`directory` holding the topics; created if missing")
	fs.Int64Var(&c.segmentBytes, "segment-bytes", partition.DefaultSegmentBytes, "roll to a new segment file at this size")
	fs.Var(&c.fsync, "fsync", "when to sync appends to disk: always, interval or never")
	fs.DurationVar(&c.fsyncInterval, "fsync-interval", partition.DefaultFsyncInterval, "sync period for --fsync interval")
	fs.Int64Var(&c.retentionBytes, "retention-bytes", 0, "per-partition size above which the oldest segments are deleted (0: keep all)")
	fs.Int64Var(&c.retentionMs, "retention-ms", 0, "age in milliseconds after which sealed segments are deleted (0: keep all)")
	fs.IntVar(&c.maxRecordBytes, "max-record-bytes", partition.DefaultMaxRecordBytes, "largest record accepted (key, value and headers, encoded)")
	fs.UintVar(&c.maxPartitions, "max-partitions", partition.DefaultMaxPartitions, "most partitions one topic may have")
	fs.Var(&c.logLevel, "log-level", "debug, info, warn or error")
	fs.Var(&c.logFormat, "log-format", "console or json")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGINT/SIGTERM waits for in-flight calls")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "`address` serving /metrics and /debug/pprof over HTTP (empty: off)")
	fs.IntVar(&c.maxOpenFiles, "max-open-files", 0, "most segment files held open at once (0: half the RLIMIT_NOFILE soft limit, at most 1024)")
	fs.StringVar(&c.kafkaAddr, "kafka-addr", "127.0.0.1:9093", "Kafka protocol listen `address` (empty: off)")
	fs.StringVar(&c.kafkaAdvertise, "kafka-advertise-addr", "", "host:port Kafka clients are told to reach this broker at (empty: --kafka-addr)")
	fs.BoolVar(&c.kafkaAutoCreate, "kafka-auto-create-topics", false, "create a topic that a Kafka client's Metadata request names and that does not exist, with 1 partition")
	fs.DurationVar(&c.groupMinSession, "group-min-session-timeout", group.DefaultMinSessionTimeout, "shortest session timeout a Kafka group member may ask for (Kafka's group.min.session.timeout.ms)")
	fs.DurationVar(&c.groupMaxSession, "group-max-session-timeout", group.DefaultMaxSessionTimeout, "longest session timeout a Kafka group member may ask for (Kafka's group.max.session.timeout.ms)")
	fs.DurationVar(&c.groupInitialDelay, "group-initial-rebalance-delay", group.DefaultInitialRebalanceDelay, "how long an empty Kafka group waits for more members before its first rebalance (Kafka's group.initial.rebalance.delay.ms; 0: none)")
	fs.BoolVar(&c.version, "version", false, "print version and build information, then exit")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, out)
			return c, err
		}
		return c, usagef("%v (see --help)", err)
	}
	if fs.NArg() > 0 {
		return c, usagef("unexpected argument %q (see --help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || noEnv[f.Name] || envErr != nil {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = usagef("invalid value %q for %s: %v", v, envName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	return c, c.check()
}

// classicConfig is the Kafka group protocol's configuration.
func (c config) classicConfig() group.ClassicConfig {
	delay := c.groupInitialDelay
	if delay == 0 {
		delay = -1 // the flag's 0 is none; the config's is the default
	}
	return group.ClassicConfig{MinSessionTimeout: c.groupMinSession, MaxSessionTimeout: c.groupMaxSession, InitialRebalanceDelay: delay}
}

// check refuses values that storage would quietly replace with defaults.
func (c config) check() error {
	switch {
	case c.addr == "":
		return usagef("--addr is empty")
	case c.dataDir == "":
		return usagef("--data-dir is empty")
	case c.segmentBytes < partition.MinSegmentBytes || c.segmentBytes > partition.MaxSegmentBytes:
		return usagef("--segment-bytes %d must be %d to %d", c.segmentBytes, partition.MinSegmentBytes, partition.MaxSegmentBytes)
	case c.fsyncInterval <= 0:
		return usagef("--fsync-interval %s must be positive", c.fsyncInterval)
	case c.retentionBytes < 0:
		return usagef("--retention-bytes %d must not be negative", c.retentionBytes)
	case c.retentionMs < 0 || c.retentionMs > math.MaxInt64/int64(time.Millisecond):
		return usagef("--retention-ms %d out of range", c.retentionMs)
	case c.maxRecordBytes <= 0 || c.maxRecordBytes > partition.MaxRecordBytesLimit:
		return usagef("--max-record-bytes %d must be 1 to %d", c.maxRecordBytes, partition.MaxRecordBytesLimit)
	case c.maxPartitions == 0 || c.maxPartitions > math.MaxUint32:
		return usagef("--max-partitions %d must be 1 to %d", c.maxPartitions, uint32(math.MaxUint32))
	case c.shutdownTimeout <= 0:
		return usagef("--shutdown-timeout %s must be positive", c.shutdownTimeout)
	case c.maxOpenFiles < 0:
		return usagef("--max-open-files %d must not be negative", c.maxOpenFiles)
	case c.groupMinSession <= 0 || c.groupMaxSession < c.groupMinSession:
		return usagef("--group-min-session-timeout %s must be positive and at most --group-max-session-timeout %s", c.groupMinSession, c.groupMaxSession)
	case c.groupInitialDelay < 0:
		return usagef("--group-initial-rebalance-delay %s must not be negative", c.groupInitialDelay)
	}
	if err := checkHostPort(c.addr); err != nil {
		return usagef("--addr %q: %v", c.addr, err)
	}
	if c.metricsAddr != "" {
		if err := checkHostPort(c.metricsAddr); err != nil {
			return usagef("--metrics-addr %q: %v", c.metricsAddr, err)
		}
	}
	return c.checkKafka()
}

// checkKafka checks the Kafka listener's flags. Clients connect to the
// advertised address, so a wildcard listen address needs one given.
func (c config) checkKafka() error {
	if c.kafkaAddr == "" {
		return nil
	}
	if err := checkHostPort(c.kafkaAddr); err != nil {
		return usagef("--kafka-addr %q: %v", c.kafkaAddr, err)
	}
	if c.kafkaAdvertise != "" {
		host, port, err := net.SplitHostPort(c.kafkaAdvertise)
		if err != nil || host == "" {
			return usagef("--kafka-advertise-addr %q: want host:port", c.kafkaAdvertise)
		}
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return usagef("--kafka-advertise-addr %q: want a port number from 1 to 65535", c.kafkaAdvertise)
		}
		return nil
	}
	if host, _, _ := net.SplitHostPort(c.kafkaAddr); host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		return usagef("--kafka-addr %q listens on every address: give --kafka-advertise-addr, the host:port clients reach this broker at", c.kafkaAddr)
	}
	return nil
}

// checkHostPort refuses a listen address that net.Listen would refuse for
// its form, so that it is a usage error (exit 2) before anything starts.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	// A number, or a service name as net.Listen takes it ("http").
	if _, err := net.LookupPort("tcp", port); err != nil {
		return errors.New("want a port number from 0 to 65535 or a service name")
	}
	return nil
}

func (c config) partitionConfig(logger zerolog.Logger) partition.Config {
	return partition.Config{
		SegmentBytes:   c.segmentBytes,
		Fsync:          partition.FsyncMode(c.fsync),
		FsyncInterval:  c.fsyncInterval,
		RetentionBytes: c.retentionBytes,
		RetentionAge:   time.Duration(c.retentionMs) * time.Millisecond,
		MaxRecordBytes: c.maxRecordBytes,
		MaxPartitions:  uint32(c.maxPartitions),
		MaxOpenFiles:   c.openFiles(),
		Logger:         logger,
	}
}

// openFiles is the cap of the segment file cache: --max-open-files, or with
// 0 one sized from the descriptor limit.
func (c config) openFiles() int {
	if c.maxOpenFiles > 0 {
		return c.maxOpenFiles
	}
	return autoOpenFiles(nofileLimit())
}

// autoOpenFiles leaves half of the soft descriptor limit to sockets, .index
// and group files: a cache sized to the whole limit would starve them.
// soft == 0 means unknown.
func autoOpenFiles(soft uint64) int {
	if soft == 0 {
		return partition.DefaultMaxOpenFiles
	}
	return int(max(1, min(partition.DefaultMaxOpenFiles, soft/2)))
}

func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintf(out, "Usage: broker [flags]\n\nLogBroker daemon. Every flag can also be set with the environment variable\n%s<FLAG> (upper case, - as _), e.g. LOGBROKER_DATA_DIR; a flag wins.\n\n", envPrefix)
	fs.SetOutput(out)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// fsyncFlag is a partition.FsyncMode as a flag; its zero value is "always".
type fsyncFlag partition.FsyncMode

func (f *fsyncFlag) String() string { return partition.FsyncMode(*f).String() }

func (f *fsyncFlag) Set(s string) error {
	m, err := partition.ParseFsyncMode(s)
	if err != nil {
		return errors.New("want always, interval or never")
	}
	*f = fsyncFlag(m)
	return nil
}

type levelFlag zerolog.Level

func (l *levelFlag) String() string { return zerolog.Level(*l).String() }

func (l *levelFlag) Set(s string) error {
	// zerolog.ParseLevel takes more ("disabled", numbers), some of which
	// would silence errors too.
	switch s {
	case "debug", "info", "warn", "error":
		lv, _ := zerolog.ParseLevel(s)
		*l = levelFlag(lv)
		return nil
	}
	return errors.New("want debug, info, warn or error")
}

type formatFlag string

func (f *formatFlag) String() string { return string(*f) }

func (f *formatFlag) Set(s string) error {
	if s != "console" && s != "json" {
		return errors.New("want console or json")
	}
	*f = formatFlag(s)
	return nil
}
