package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/internal/bufpool"
	"github.com/logbroker/logbroker/pb"
)

// Sentinel errors. Errors from the broker are gRPC status errors (use
// status.Code); the sentinels below are the client's own.
var (
	// ErrClosed: the Client or Producer was closed.
	ErrClosed = errors.New("client: closed")
	// ErrUnreachable: Dial with WithBlock gave up before the broker answered.
	ErrUnreachable = errors.New("client: broker unreachable")
	// ErrBadOption: an option or argument is out of range.
	ErrBadOption = errors.New("client: bad option")
	// ErrOffsetGap: the broker skipped or repeated offsets on a stream; the
	// consumer refuses to hide that.
	ErrOffsetGap = errors.New("client: offset gap")
	// ErrMalformed: bytes from the broker are not a valid encoding of the
	// message they should hold.
	ErrMalformed = errors.New("client: malformed message")
)

// Keepalive defaults for long-lived streams (a live tail can stay silent for
// hours). The client pings after 30s without traffic and drops the
// connection if no answer comes within 10s, so a dead broker or a silently
// broken route is noticed and the consumer resumes elsewhere in time. The
// broker's keepalive.EnforcementPolicy must allow pings that often
// (MinTime <= 30s), or it answers with GOAWAY "too_many_pings".
var DefaultKeepalive = keepalive.ClientParameters{
	Time:                30 * time.Second,
	Timeout:             10 * time.Second,
	PermitWithoutStream: false,
}

// maxRecvMsgBytes bounds one received message. A batch is at most the
// broker's max_bytes but always holds one whole record, so leave room.
const maxRecvMsgBytes = 64 << 20

type dialConfig struct {
	keepalive keepalive.ClientParameters
	block     bool
	logger    zerolog.Logger
	grpcOpts  []grpc.DialOption
}

// Option configures Dial.
type Option func(*dialConfig)

// WithKeepalive replaces DefaultKeepalive.
func WithKeepalive(p keepalive.ClientParameters) Option {
	return func(c *dialConfig) { c.keepalive = p }
}

// WithBlock makes Dial wait until the connection is ready, or fail with
// ErrUnreachable when ctx ends first. Without it Dial returns at once and the
// first call reports a broker that is down.
func WithBlock() Option { return func(c *dialConfig) { c.block = true } }

// WithLogger sets the logger the Client hands to what it creates.
func WithLogger(l zerolog.Logger) Option { return func(c *dialConfig) { c.logger = l } }

// WithGRPCOptions appends raw grpc.DialOptions (applied after the defaults,
// so they override them), e.g. transport credentials.
func WithGRPCOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// Client is a connection to one broker. Safe for concurrent use.
type Client struct {
	addr   string
	conn   *grpc.ClientConn
	broker pb.BrokerServiceClient
	logger zerolog.Logger
}

// Dial connects to the broker at addr ("host:port"). The connection is
// plaintext, reconnects by itself with a short backoff (so a restarted broker
// is found again within seconds) and keeps long streams alive with
// DefaultKeepalive. ctx bounds only the wait of WithBlock.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	cfg := dialConfig{keepalive: DefaultKeepalive, logger: zerolog.Nop()}
	for _, o := range opts {
		o(&cfg)
	}
	if addr == "" {
		return nil, fmt.Errorf("%w: empty broker address", ErrBadOption)
	}
	gopts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(cfg.keepalive),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   5 * time.Second,
			},
			MinConnectTimeout: 10 * time.Second,
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgBytes), rawCall),
		// Receive buffers that are not cleared before every message.
		experimental.WithBufferPool(bufpool.Default),
	}
	gopts = append(gopts, cfg.grpcOpts...)
	target := addr
	if !strings.Contains(addr, "://") {
		// Let the dialer resolve host:port, as net.Dial would.
		target = "passthrough:///" + addr
	}
	conn, err := grpc.NewClient(target, gopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: broker address %q: %w", ErrBadOption, addr, err)
	}
	c := &Client{
		addr:   addr,
		conn:   conn,
		broker: pb.NewBrokerServiceClient(conn),
		logger: cfg.logger.With().Str("broker", addr).Logger(),
	}
	if cfg.block {
		if err := c.waitReady(ctx); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Client) waitReady(ctx context.Context) error {
	c.conn.Connect()
	for {
		s := c.conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !c.conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("%w: %s (last state %s): %w", ErrUnreachable, c.addr, s, ctx.Err())
		}
	}
}

// Close closes the connection; calls in flight fail with codes.Canceled.
func (c *Client) Close() error { return c.conn.Close() }

// Addr is the broker address given to Dial.
func (c *Client) Addr() string { return c.addr }

// Broker is the raw generated stub, for calls this package does not wrap.
func (c *Client) Broker() pb.BrokerServiceClient { return c.broker }

// Conn is the underlying connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// CreateTopic creates topic name with the given number of partitions.
func (c *Client) CreateTopic(ctx context.Context, name string, partitions uint32) (*pb.TopicMetadata, error) {
	resp, err := c.broker.CreateTopic(ctx, &pb.CreateTopicRequest{Name: name, Partitions: partitions})
	if err != nil {
		return nil, err
	}
	return resp.GetTopic(), nil
}

// ListTopics lists every topic, sorted by name.
func (c *Client) ListTopics(ctx context.Context) ([]*pb.TopicMetadata, error) {
	resp, err := c.broker.ListTopics(ctx, &pb.ListTopicsRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetTopics(), nil
}

// DeleteTopic deletes topic name and all of its data.
func (c *Client) DeleteTopic(ctx context.Context, name string) error {
	_, err := c.broker.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: name})
	return err
}

// GetOffsets reports log start and next offset of every partition of topic.
func (c *Client) GetOffsets(ctx context.Context, topic string) ([]*pb.PartitionOffsets, error) {
	resp, err := c.broker.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: topic})
	if err != nil {
		return nil, err
	}
	return resp.GetPartitions(), nil
}

// GetOffsetsForTime is GetOffsets that also gives, in each partition's
// TimestampOffset, the first offset whose record timestamp is at or after
// timestampMs (Unix milliseconds, not 0), or NextOffset when none is.
func (c *Client) GetOffsetsForTime(ctx context.Context, topic string, timestampMs int64) ([]*pb.PartitionOffsets, error) {
	if timestampMs == 0 {
		return nil, errors.New("client: GetOffsetsForTime: timestamp 0 asks for no time")
	}
	resp, err := c.broker.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: topic, TimestampMs: timestampMs})
	if err != nil {
		return nil, err
	}
	return resp.GetPartitions(), nil
}

// PartitionCount is the number of partitions of topic, from ListTopics. It
// fails with a codes.NotFound status error when the topic does not exist.
func (c *Client) PartitionCount(ctx context.Context, topic string) (uint32, error) {
	topics, err := c.ListTopics(ctx)
	if err != nil {
		return 0, err
	}
	for _, t := range topics {
		if t.GetName() == topic {
			return uint32(len(t.GetPartitions())), nil
		}
	}
	return 0, status.Errorf(codes.NotFound, "topic %q not found", topic)
}

// Produce sends records to one partition in one request, unbatched. Most
// writers want a Producer instead.
func (c *Client) Produce(ctx context.Context, topic string, partition uint32, acks pb.Acks, records ...*pb.Record) (*pb.ProduceResponse, error) {
	return c.broker.Produce(ctx, &pb.ProduceRequest{Topic: topic, Partition: partition, Records: records, Acks: acks})
}
