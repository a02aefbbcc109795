package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/logbroker/logbroker/server/metrics"
)

// metricsServer serves /metrics and /debug/pprof on --metrics-addr. A nil
// *metricsServer is metrics off.
type metricsServer struct {
	m   *metrics.Metrics
	lis net.Listener
	srv *http.Server
}

// listenMetrics binds --metrics-addr before storage opens, so that a busy
// port fails the start at once and recovery can be watched.
func listenMetrics(cfg config) (*metricsServer, error) {
	if cfg.metricsAddr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", cfg.metricsAddr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", cfg.metricsAddr, err)
	}
	m := metrics.New(metrics.Options{Version: versionString()})
	return &metricsServer{m: m, lis: lis, srv: &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}}, nil
}

// metrics is nil when metrics are off; every Metrics method allows that.
func (s *metricsServer) metrics() *metrics.Metrics {
	if s == nil {
		return nil
	}
	return s.m
}

func (s *metricsServer) addr() string {
	if s == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// serve runs until stop; it returns nil after stop.
func (s *metricsServer) serve() error {
	if s == nil {
		return nil
	}
	if err := s.srv.Serve(s.lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve %s: %w", s.lis.Addr(), err)
	}
	return nil
}

// stop lets scrapes in flight finish for a moment, then cuts the rest (a
// 30-second CPU profile must not hold the exit up).
func (s *metricsServer) stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	s.lis.Close() // in case serve never ran
}
