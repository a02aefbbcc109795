package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server/metrics"
)

// Defaults for zero Options fields.
const (
	DefaultMaxRecordBytes = 1 << 20
	DefaultMaxPartitions  = 1024
	DefaultReadBytes      = 1 << 20
	// DefaultMaxReadBytes keeps a batch within a default gRPC client's 4 MiB
	// receive limit (a single record over it is still sent whole).
	DefaultMaxReadBytes = 4 << 20
	// batchHeadroom is what a produce request may carry beyond one maximal
	// record: a client batch of smaller records, plus framing.
	batchHeadroom = 4 << 20

	// A dead client's streams are freed within Time+Timeout.
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second
	// Clients may ping at most this often (also with no active stream).
	DefaultKeepaliveMinTime = 10 * time.Second
)

// Options configures a Server. Registry is required; zero fields take defaults.
type Options struct {
	Registry Registry
	// Groups serves the consumer-group RPCs and START_COMMITTED; nil answers
	// them with UNIMPLEMENTED.
	Groups Groups
	Logger zerolog.Logger
	// MaxRecordBytes and MaxPartitions should equal storage's limits: they let
	// the server refuse bad requests before storage sees them.
	MaxRecordBytes int
	MaxPartitions  uint32
	// DefaultReadBytes bounds a read when a consumer gives max_bytes 0;
	// MaxReadBytes caps what a consumer may ask for.
	DefaultReadBytes int
	MaxReadBytes     int
	// MaxRecvMsgBytes bounds a request; default MaxRecordBytes + 4 MiB.
	MaxRecvMsgBytes int
	// Keepalive and KeepalivePolicy: zero fields take the Default* values.
	Keepalive       keepalive.ServerParameters
	KeepalivePolicy keepalive.EnforcementPolicy
	// Metrics, when set, counts calls, times Produce and tracks Consume
	// streams; nil turns metrics off.
	Metrics *metrics.Metrics
	// Starting makes the server report NOT_SERVING and answer BrokerService
	// calls with UNAVAILABLE until Ready, so that it can listen while storage
	// recovers.
	Starting bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Registry == nil {
		return o, errors.New("server: Options.Registry is nil")
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxPartitions == 0 {
		o.MaxPartitions = DefaultMaxPartitions
	}
	if o.DefaultReadBytes <= 0 {
		o.DefaultReadBytes = DefaultReadBytes
	}
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = DefaultMaxReadBytes
	}
	o.DefaultReadBytes = min(o.DefaultReadBytes, o.MaxReadBytes)
	if o.MaxRecvMsgBytes <= 0 {
		o.MaxRecvMsgBytes = o.MaxRecordBytes + batchHeadroom
	}
	if o.Keepalive.Time <= 0 {
		o.Keepalive.Time = DefaultKeepaliveTime
	}
	if o.Keepalive.Timeout <= 0 {
		o.Keepalive.Timeout = DefaultKeepaliveTimeout
	}
	if o.KeepalivePolicy.MinTime <= 0 {
		o.KeepalivePolicy.MinTime = DefaultKeepaliveMinTime
		// Long-lived idle consumers and producers keep their connections
		// alive with pings; allow that rather than GOAWAY them.
		o.KeepalivePolicy.PermitWithoutStream = true
	}
	return o, nil
}

// streamWorkers is the size of the RPC worker pool; idle workers only park.
func streamWorkers() int { return max(64, 4*runtime.GOMAXPROCS(0)) }

// connReadBuffer is each connection's read buffer.
const connReadBuffer = 128 << 10

// Server is a gRPC server carrying BrokerService, health and reflection.
type Server struct {
	grpc   *grpc.Server
	health *health.Server
	logger zerolog.Logger
	// metrics counts calls and mirrors health; nil when off.
	metrics *metrics.Metrics
	// starting refuses BrokerService calls until Ready.
	starting atomic.Bool
	// stopping is cancelled when Stop begins; every stream's context derives
	// from it so that live tails (and health watches) end.
	stopping context.Context
	stop     context.CancelFunc

	// calls counts unary handlers running, so that Stop can tell when only
	// streams are left.
	callsMu sync.Mutex
	calls   int
	idle    chan struct{} // closed when calls reaches 0 during Stop
}

// New builds a Server; it serves nothing until Serve.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{health: health.NewServer(), logger: opts.Logger, metrics: opts.Metrics}
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.grpc = grpc.NewServer(
		grpc.ForceServerCodecV2(newCodec()),
		experimental.BufferPool(batchBuffers),
		// A produce request of 1,000 small records is about 110 KiB: read it
		// in one or two syscalls rather than four (the default is 32 KiB).
		grpc.ReadBufferSize(connReadBuffer),
		grpc.MaxRecvMsgSize(opts.MaxRecvMsgBytes),
		grpc.KeepaliveParams(opts.Keepalive),
		grpc.KeepaliveEnforcementPolicy(opts.KeepalivePolicy),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		// A fixed pool of goroutines, whose stacks have grown already, takes
		// each RPC, instead of a fresh goroutine per call (whose stack then
		// grows by copying: 15% of the broker's CPU under one-record
		// produces). A Consume stream holds its worker for as long as it
		// lasts, so the pool is larger than the CPUs: with every worker
		// busy, gRPC falls back to a fresh goroutine.
		grpc.NumStreamWorkers(uint32(streamWorkers())),
	)
	s.grpc.RegisterService(serviceDesc(), &service{opts: opts, reg: opts.Registry, stopping: s.stopping, calls: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.starting.Store(opts.Starting)
	s.SetServing(!opts.Starting)
	return s, nil
}

// Ready ends Starting: BrokerService calls are served and health turns
// SERVING.
func (s *Server) Ready() {
	s.starting.Store(false)
	s.SetServing(true)
}

// errStarting refuses calls while storage recovers.
var errStarting = status.Error(codes.Unavailable, "server: broker starting: recovering its data directory")

// refused says whether a call must wait for Ready; health and reflection
// are always served.
func (s *Server) refused(method string) bool {
	return s.starting.Load() && strings.HasPrefix(method, "/"+pb.BrokerService_ServiceDesc.ServiceName+"/")
}

// GRPC is the underlying server, for registering further services.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Serve accepts connections on lis until Stop; it returns nil after Stop,
// also when Stop came first.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("server: serve %s: %w", lis.Addr(), err)
	}
	return nil
}

// SetServing sets the health status of the broker ("" and BrokerService).
// It has no effect once Stop has begun.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(pb.BrokerService_ServiceDesc.ServiceName, st)
	s.metrics.SetServing(serving && s.stopping.Err() == nil)
}

// Stop turns health to NOT_SERVING, stops accepting, ends open streams with
// UNAVAILABLE and waits for in-flight calls to finish. If ctx ends first it
// closes every connection, cancelling the calls still running, and returns
// the context's error at once: a handler stuck in storage that ignores
// cancellation must not keep the process from exiting. Safe to call more
// than once.
func (s *Server) Stop(ctx context.Context) error {
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop() // returns once every handler has
		close(done)
	}()
	s.stop()
	s.metrics.SetServing(false)
	// await is true once ch closes; false, with Stop's result, when
	// GracefulStop finished or ctx ended first.
	await := func(ch <-chan struct{}) (bool, error) {
		select {
		case <-ch:
			return true, nil
		case <-done:
			return false, nil
		case <-ctx.Done():
			s.grpc.Stop()
			return false, fmt.Errorf("server: graceful stop: %w", ctx.Err())
		}
	}
	if ok, err := await(s.whenIdle()); !ok {
		return err
	}
	// Every request taken has been answered, and streams were told to end. A
	// stream still open after a short grace is blocked sending to a client
	// that stopped reading, or idle in its read; GracefulStop would wait for
	// it until ctx ends, so close the connections instead, once a request
	// taken meanwhile has been answered too.
	grace := make(chan struct{})
	defer time.AfterFunc(streamGrace, func() { close(grace) }).Stop()
	if ok, err := await(grace); !ok {
		return err
	}
	if ok, err := await(s.whenIdle()); !ok {
		return err
	}
	s.grpc.Stop()
	_, err := await(nil) // gRPC waits for each connection's handlers to return
	return err
}

// streamGrace is how long Stop lets streams end on their own once every
// unary call has answered.
const streamGrace = time.Second

// enter and leave count requests being served, for Stop: unary calls, and
// ProduceStream requests from their read to their answer.
func (s *Server) enter() {
	s.callsMu.Lock()
	s.calls++
	s.callsMu.Unlock()
}

func (s *Server) leave() {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	s.calls--
	if s.calls == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// whenIdle is closed once no request counted by enter is being served.
func (s *Server) whenIdle() <-chan struct{} {
	s.callsMu.Lock()
	defer s.callsMu.Unlock()
	ch := make(chan struct{})
	if s.calls == 0 {
		close(ch)
		return ch
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	return s.idle
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	s.enter()
	defer s.leave()
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(info.FullMethod, r)
		}
		took := time.Since(start)
		s.metrics.ObserveUnary(info.FullMethod, req, took, err)
		s.logRPC(info.FullMethod, req, took, err)
	}()
	if s.refused(info.FullMethod) {
		return nil, errStarting
	}
	return handler(ctx, req)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ss.Context())
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)()
	st := &stoppableStream{ServerStream: ss, ctx: ctx}
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(info.FullMethod, r)
		}
		s.metrics.ObserveStream(info.FullMethod, err)
		s.logRPC(info.FullMethod, st.first, time.Since(start), err)
	}()
	if s.refused(info.FullMethod) {
		return errStarting
	}
	return handler(srv, st)
}

// stoppableStream is a stream whose context also ends when Stop begins. It
// keeps the first request, so that the stream's log line can name its topic
// and partition.
type stoppableStream struct {
	grpc.ServerStream
	ctx   context.Context
	first any
}

func (s *stoppableStream) Context() context.Context { return s.ctx }

func (s *stoppableStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil && s.first == nil {
		s.first = m
	}
	return err
}

// panicked keeps a bug in one handler from taking the broker down.
func (s *Server) panicked(method string, r any) error {
	s.logger.Error().Str("method", method).Interface("panic", r).Bytes("stack", debug.Stack()).Msg("rpc handler panicked")
	return status.Errorf(codes.Internal, "server: internal error in %s", method)
}

// partitionRequest is a request about one partition (produce, consume).
type partitionRequest interface {
	GetTopic() string
	GetPartition() uint32
}

// topicRequest is a request about one topic (offsets, groups).
type topicRequest interface{ GetTopic() string }

func (s *Server) logRPC(method string, req any, took time.Duration, err error) {
	code := status.Code(err)
	ev := s.logger.Debug()
	switch code {
	case codes.Internal, codes.DataLoss, codes.Unknown:
		ev = s.logger.Error()
	case codes.ResourceExhausted:
		ev = s.logger.Warn()
	}
	if !ev.Enabled() {
		return
	}
	switch r := req.(type) {
	case partitionRequest:
		ev = ev.Str("topic", r.GetTopic()).Uint32("partition", r.GetPartition())
	case topicRequest:
		ev = ev.Str("topic", r.GetTopic())
	}
	ev.Str("method", method).Str("code", code.String()).Dur("took_ms", took).Err(err).Msg("rpc")
}
