package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
)

// Defaults for zero Options fields.
const (
	// DefaultMaxRequestBytes is Kafka's socket.request.max.bytes.
	DefaultMaxRequestBytes = 100 << 20
	// DefaultIdleTimeout is Kafka's connections.max.idle.ms.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultPartitions is what a topic made without a partition count
	// gets (auto-created, or CreateTopics with -1), Kafka's num.partitions.
	DefaultPartitions = 1
)

// maxOtherRequestBytes bounds the frames of every API but Produce, whose
// records are the only large field. kmsg sizes a decoded array from its
// length before reading it, at a few dozen bytes per element for at
// least one byte of input, so this bound keeps what a hostile frame can
// make the broker allocate to a few hundred MiB.
const maxOtherRequestBytes = 8 << 20

// NodeID is the one broker's node id in Metadata, as leader, replica and
// controller of everything.
const NodeID = 1

// ClusterID is what Metadata reports as the cluster id.
const ClusterID = "logbroker"

// Options configures a Server. Zero fields take defaults.
type Options struct {
	Registry Registry // required
	Groups   Groups   // required: the consumer-group coordinator
	Logger   zerolog.Logger
	// AdvertiseAddr is the host:port Metadata gives clients for this
	// broker; empty means the listener's address.
	AdvertiseAddr string
	// AutoCreateTopics creates a topic that Metadata asks for and does not
	// exist (Kafka's auto.create.topics.enable), with DefaultPartitions.
	AutoCreateTopics bool
	// MaxPartitions is the storage's limit per topic, for CreateTopics'
	// validate_only; default partition.DefaultMaxPartitions.
	MaxPartitions uint32
	// MaxRequestBytes bounds a Produce request's frame; default 100 MiB.
	MaxRequestBytes int
	// IdleTimeout closes a connection that sends no request for this long;
	// it also bounds how long a response may take to write. Default 10m.
	IdleTimeout time.Duration
}

// Server serves the Kafka protocol over one listener. Safe for concurrent
// use; see the package comment for its goroutines.
type Server struct {
	opts   Options
	logger zerolog.Logger
	// hard is cancelled when Stop gives up waiting: it cuts off handlers
	// still waiting on storage.
	hard       context.Context
	cancelHard context.CancelFunc
	stopping   chan struct{} // closed when Stop begins
	wg         sync.WaitGroup

	mu      sync.Mutex // guards the fields below
	lis     net.Listener
	conns   map[*conn]struct{}
	stopped bool
	host    string // advertised, set by Serve before any connection
	port    int32

	ids sync.Map // partition-0 handle (Partition) → topic UUID ([16]byte)
}

// New checks opts and makes a Server; Serve starts it.
func New(opts Options) (*Server, error) {
	if opts.Registry == nil {
		return nil, errors.New("kafka: Options.Registry is nil")
	}
	if opts.Groups == nil {
		return nil, errors.New("kafka: Options.Groups is nil")
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxPartitions == 0 {
		opts.MaxPartitions = partition.DefaultMaxPartitions
	}
	if opts.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(opts.AdvertiseAddr); err != nil {
			return nil, err
		}
	}
	hard, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:       opts,
		logger:     opts.Logger.With().Str("listener", "kafka").Logger(),
		hard:       hard,
		cancelHard: cancel,
		stopping:   make(chan struct{}),
		conns:      map[*conn]struct{}{},
	}, nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("kafka: advertised address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("kafka: advertised address %q: want host:port with a numeric port", addr)
	}
	return host, int32(port), nil
}

// Serve accepts connections on lis until Stop, and returns nil then; it
// takes lis over.
func (s *Server) Serve(lis net.Listener) error {
	adv := s.opts.AdvertiseAddr
	if adv == "" {
		adv = lis.Addr().String()
	}
	host, port, err := splitHostPort(adv)
	if err != nil {
		lis.Close()
		return err
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		lis.Close()
		return nil
	}
	s.lis, s.host, s.port = lis, host, port
	s.mu.Unlock()
	s.logger.Info().Str("addr", lis.Addr().String()).Str("advertised", adv).Bool("auto_create_topics", s.opts.AutoCreateTopics).Msg("serving the Kafka protocol")
	var backoff time.Duration
	for {
		nc, err := lis.Accept()
		if err != nil {
			select {
			case <-s.stopping:
				return nil
			default:
			}
			if isTemporary(err) {
				// Out of descriptors and the like: wait a little, as
				// net/http does, rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logger.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
				select {
				case <-time.After(backoff):
				case <-s.stopping:
					return nil
				}
				continue
			}
			return fmt.Errorf("kafka: accept: %w", err)
		}
		backoff = 0
		c := newConn(s, nc)
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// isTemporary reports an accept error that a later Accept may not repeat
// (out of descriptors, a connection aborted before it was taken).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// Addr is the listener's address, nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// Stop stops accepting, closes idle connections, and lets each busy one
// finish its request (a waiting Fetch answers at once) and write its
// response before closing it. When ctx ends first, the remaining
// connections are cut off and it returns ctx's error. Stop waits for every
// connection goroutine either way.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.stopped = true
	close(s.stopping)
	if s.lis != nil {
		s.lis.Close()
	}
	for c := range s.conns {
		c.interruptIdle()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancelHard()
		return nil
	case <-ctx.Done():
	}
	s.cancelHard()
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return fmt.Errorf("kafka: connections cut off at stop: %w", ctx.Err())
}

// isStopping reports whether Stop has begun.
func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// advertised is the host and port Metadata gives for this broker.
func (s *Server) advertised() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host, s.port
}
