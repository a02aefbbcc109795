package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/logbroker/logbroker/kafka"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/server"
	"github.com/logbroker/logbroker/server/metrics"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module version from the build info is used.
var version string

// run is the daemon: it returns nil after a clean stop (ctx cancelled) and
// an error for bad configuration or a failure to start or serve. Logs go to
// stderr; --help and --version print to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, os.LookupEnv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.version {
		fmt.Fprint(stdout, versionInfo())
		return nil
	}
	logger := newLogger(cfg, stderr)

	// Listen first and serve health (NOT_SERVING) while storage recovers,
	// which can take a while after a crash: orchestrators see the broker
	// alive but not ready, and operators can scrape it meanwhile.
	ms, err := listenMetrics(cfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		ms.stop()
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	// The Kafka listener is bound now, so that a port in use fails the start
	// at once, but serves only once storage is open: Kafka clients have no
	// NOT_SERVING to see, and their connections wait in the backlog.
	klis, err := listenKafka(cfg)
	if err != nil {
		lis.Close()
		ms.stop()
		return err
	}
	var pend pending
	srv, err := server.New(server.Options{
		Registry:       &pend,
		Groups:         &pend,
		Logger:         logger,
		MaxRecordBytes: cfg.maxRecordBytes, // check() made these what storage uses
		MaxPartitions:  uint32(cfg.maxPartitions),
		Metrics:        ms.metrics(),
		Starting:       true,
	})
	if err != nil {
		lis.Close()
		klis.close()
		ms.stop()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(lis) })
	g.Go(ms.serve)
	logger.Info().Str("addr", lis.Addr().String()).Str("metrics_addr", ms.addr()).Str("data_dir", cfg.dataDir).
		Msg("recovering data directory; health NOT_SERVING until done")
	testHookRecovering(lis.Addr(), ms.addr())

	type opened struct {
		st  storage
		err error
	}
	openc := make(chan opened, 1)
	go func() {
		st, err := openStorageFn(cfg, logger, ms.metrics())
		openc <- opened{st, err}
	}()
	var o opened
	select {
	case o = <-openc:
	case <-gctx.Done():
		// A stop during a long recovery: go now rather than be killed at
		// systemd's stop timeout. Recovery is safe to interrupt (what it
		// did stays, what it did not is redone at the next start); it runs
		// on until the process exits, and closes what it opened if it
		// finishes first.
		logger.Warn().Msg("stop requested during recovery: stopping now; the next start recovers again")
		go func() {
			if late := <-openc; late.err == nil {
				_ = late.st.close()
			}
		}()
		klis.close()
		stopServing(srv, ms, cfg.shutdownTimeout)
		return g.Wait()
	}
	st, err := o.st, o.err
	if err != nil {
		klis.close()
		stopServing(srv, ms, cfg.shutdownTimeout)
		return errors.Join(err, g.Wait())
	}
	pend.set(st)
	ksrv, err := klis.serve(g, cfg, logger, st.reg, st.groups)
	if err != nil { // not expected: check() made the options valid
		stopServing(srv, ms, cfg.shutdownTimeout)
		return errors.Join(err, st.close(), g.Wait())
	}
	rec := st.reg.Recovery()
	ms.metrics().SetStorage(st.reg)
	ms.metrics().SetRecovery(rec)
	if gctx.Err() == nil { // no signal during recovery
		srv.Ready()
	}
	logStart(logger, lis.Addr(), klis.addr(), ms.addr(), cfg, rec)

	g.Go(func() error {
		<-gctx.Done() // a signal, or a server failed
		return shutdown(logger, srv, ksrv, ms, st, cfg.shutdownTimeout)
	})
	return g.Wait()
}

// openStorageFn is openStorage; tests make it slow.
var openStorageFn = openStorage

// testHookRecovering runs once the listeners are up, before storage opens.
var testHookRecovering = func(grpcAddr net.Addr, metricsAddr string) {}

// openStorage opens the partitions (crash recovery happens here) and the
// consumer groups on the data directory.
func openStorage(cfg config, logger zerolog.Logger, m *metrics.Metrics) (storage, error) {
	pcfg := cfg.partitionConfig(logger)
	if m != nil { // a nil *Metrics in the interface would still be called
		pcfg.Observer = m
	}
	reg, err := partition.Open(cfg.dataDir, pcfg)
	if err != nil {
		return storage{}, fmt.Errorf("data dir %s: %w", cfg.dataDir, err)
	}
	groups, err := group.Open(cfg.dataDir, group.Config{Topics: reg, Logger: logger, Classic: cfg.classicConfig()})
	if err != nil {
		return storage{}, errors.Join(fmt.Errorf("consumer groups in %s: %w", cfg.dataDir, err), closeRegistry(reg))
	}
	return storage{reg: reg, api: server.FromRegistry(reg), groups: groups}, nil
}

// stopServing ends the listeners after a failed start.
func stopServing(srv *server.Server, ms *metricsServer, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = srv.Stop(ctx) // nothing is in flight: every call was refused
	ms.stop()
}

// storage is what the daemon opens on the data directory.
type storage struct {
	reg    *partition.Registry
	api    server.Registry // reg as the server sees it
	groups *group.Coordinator
}

// close stops the group actors, then the partitions, which sync and write
// the clean-shutdown marker.
func (s storage) close() error {
	var errs []error
	if err := s.groups.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close consumer groups: %w", err))
	}
	return errors.Join(append(errs, closeRegistry(s.reg))...)
}

// shutdown stops the server within timeout (health NOT_SERVING, no new
// calls, in-flight calls finish, streams end), then closes storage, which
// syncs and writes the clean-shutdown marker, then the metrics listener, so
// that the stop can be watched. A server that needed to be cut off is only a
// warning: storage closing cleanly is what keeps the data.
func shutdown(logger zerolog.Logger, srv *server.Server, ksrv *kafka.Server, ms *metricsServer, st storage, timeout time.Duration) error {
	start := time.Now()
	logger.Info().Dur("timeout_ms", timeout).Msg("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Both front ends stop at once, within the one timeout.
	kafkaStopped := make(chan error, 1)
	go func() {
		if ksrv == nil {
			kafkaStopped <- nil
			return
		}
		kafkaStopped <- ksrv.Stop(ctx)
	}()
	if err := srv.Stop(ctx); err != nil {
		logger.Warn().Err(err).Msg("in-flight calls cut off at the shutdown timeout")
	}
	if err := <-kafkaStopped; err != nil {
		logger.Warn().Err(err).Msg("Kafka requests cut off at the shutdown timeout")
	}
	err := st.close()
	ms.stop()
	if err != nil {
		return err
	}
	logger.Info().Dur("took_ms", time.Since(start)).Msg("broker stopped")
	return nil
}

func closeRegistry(reg *partition.Registry) error {
	if err := reg.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}

// slowRecovery is how long opening the data directory may take before the
// start is worth a warning even when nothing needed repair.
const slowRecovery = 5 * time.Second

func logStart(logger zerolog.Logger, addr net.Addr, kafkaAddr, metricsAddr string, cfg config, rec partition.RecoveryStats) {
	if rec.ScannedSegments > 0 || rec.TruncatedBytes > 0 || rec.Duration > slowRecovery {
		// Per-partition details (which tail was cut) are in storage's own
		// warnings, each with its topic and partition.
		logger.Warn().
			Bool("clean", rec.Clean).
			Int("scanned_segments", rec.ScannedSegments).
			Int64("scanned_bytes", rec.ScannedBytes).
			Int64("truncated_bytes", rec.TruncatedBytes).
			Dur("recovery_ms", rec.Duration).
			Msg("recovery scanned or repaired the log, or was slow")
	}
	logger.Info().
		Str("addr", addr.String()).
		Str("kafka_addr", kafkaAddr).
		Str("metrics_addr", metricsAddr).
		Str("data_dir", cfg.dataDir).
		Str("fsync", cfg.fsync.String()).
		Int("max_open_files", cfg.openFiles()).
		Bool("clean", rec.Clean).
		Int("topics", rec.Topics).
		Int("partitions", rec.Partitions).
		Int("segments", rec.Segments).
		Int("scanned_segments", rec.ScannedSegments).
		Int64("scanned_bytes", rec.ScannedBytes).
		Int64("truncated_bytes", rec.TruncatedBytes).
		Dur("recovery_ms", rec.Duration).
		Str("version", versionString()).
		Msg("broker started")
}

func newLogger(cfg config, w io.Writer) zerolog.Logger {
	if cfg.logFormat == "console" {
		f, ok := w.(*os.File)
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !ok || !isatty.IsTerminal(f.Fd())}
	}
	return zerolog.New(w).Level(zerolog.Level(cfg.logLevel)).With().Timestamp().Logger()
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionInfo is what --version prints: the version, then build facts.
func versionInfo() string {
	s := "broker " + versionString() + "\n"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return s
	}
	s += fmt.Sprintf("  module   %s\n  go       %s\n", bi.Main.Path, bi.GoVersion)
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH", "-race":
			s += fmt.Sprintf("  %-8s %s\n", kv.Key, kv.Value)
		}
	}
	return s
}
