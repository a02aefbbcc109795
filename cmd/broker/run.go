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

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/server"
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
	log := newLogger(cfg, stderr)

	reg, err := partition.Open(cfg.dataDir, cfg.partitionConfig(log))
	if err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.dataDir, err)
	}
	groups, err := group.Open(cfg.dataDir, group.Config{Topics: reg, Logger: log})
	if err != nil {
		return errors.Join(fmt.Errorf("consumer groups in %s: %w", cfg.dataDir, err), closeRegistry(reg))
	}
	st := storage{reg: reg, groups: groups}
	lis, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.addr, err), st.close())
	}
	eff := reg.Config()
	srv, err := server.New(server.Options{
		Registry:       server.FromRegistry(reg),
		Groups:         groups,
		Logger:         log,
		MaxRecordBytes: eff.MaxRecordBytes,
		MaxPartitions:  eff.MaxPartitions,
	})
	if err != nil {
		lis.Close()
		return errors.Join(err, st.close())
	}
	logStart(log, lis.Addr(), cfg, reg.Recovery())

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(lis) })
	g.Go(func() error {
		<-gctx.Done() // a signal, or Serve failed
		return shutdown(log, srv, st, cfg.shutdownTimeout)
	})
	return g.Wait()
}

// storage is what the daemon opens on the data directory.
type storage struct {
	reg    *partition.Registry
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
// syncs and writes the clean-shutdown marker. A server that needed to be cut
// off is only a warning: storage closing cleanly is what keeps the data.
func shutdown(log zerolog.Logger, srv *server.Server, st storage, timeout time.Duration) error {
	start := time.Now()
	log.Info().Dur("timeout_ms", timeout).Msg("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		log.Warn().Err(err).Msg("in-flight calls cut off at the shutdown timeout")
	}
	if err := st.close(); err != nil {
		return err
	}
	log.Info().Dur("took_ms", time.Since(start)).Msg("broker stopped")
	return nil
}

func closeRegistry(reg *partition.Registry) error {
	if err := reg.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}

func logStart(log zerolog.Logger, addr net.Addr, cfg config, rec partition.RecoveryStats) {
	log.Info().
		Str("addr", addr.String()).
		Str("data_dir", cfg.dataDir).
		Str("fsync", cfg.fsync.String()).
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
