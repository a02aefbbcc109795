package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A request on the wire, all integers big-endian:
//
//	int32 size | int16 api key | int16 api version | int32 correlation id |
//	nullable string client id | [tagged fields, flexible versions] | body
//
// and its response:
//
//	int32 size | int32 correlation id | [tagged fields, flexible versions
//	but ApiVersions'] | body

// minRequestBytes is the smallest request header: key, version,
// correlation id and a null client id.
const minRequestBytes = 2 + 2 + 4 + 2

// Errors that close a connection; each is logged with what the client sent.
var (
	errFrame       = errors.New("kafka: bad frame")
	errUnknownKey  = errors.New("kafka: api key not served")
	errBadVersion  = errors.New("kafka: api version not served")
	errMalformed   = errors.New("kafka: malformed request")
	errUnsupported = errors.New("kafka: unsupported request")
)

// header is a parsed request header.
type header struct {
	key, version int16
	corr         int32
	clientID     string
}

// parseRequest parses a request frame's body (what follows the size):
// its header and, with kmsg, the request. An ApiVersions request of a
// version not served returns its header and a nil request with no error:
// the caller answers it with a v0 UNSUPPORTED_VERSION response, as Kafka
// does (KIP-511), without reading a body it cannot know. Errors wrap
// errUnknownKey, errBadVersion or errMalformed.
func parseRequest(body []byte) (header, kmsg.Request, error) {
	var h header
	r := kbin.Reader{Src: body}
	h.key, h.version, h.corr = r.Int16(), r.Int16(), r.Int32()
	if cid := r.NullableString(); cid != nil {
		h.clientID = *cid
	}
	if !r.Ok() {
		return h, nil, fmt.Errorf("%w: header of %d bytes", errMalformed, len(body))
	}
	v, ok := lookupVersion(h.key)
	if !ok {
		return h, nil, fmt.Errorf("%w: key %d (%s)", errUnknownKey, h.key, kmsg.NameForKey(h.key))
	}
	if h.version < v.min || h.version > v.max {
		if h.key == apiVersionsKey {
			return h, nil, nil
		}
		return h, nil, fmt.Errorf("%w: %s v%d (served: v%d to v%d)", errBadVersion, kmsg.NameForKey(h.key), h.version, v.min, v.max)
	}
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return h, nil, fmt.Errorf("%w: %s v%d header tags", errMalformed, kmsg.NameForKey(h.key), h.version)
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d body: %v", errMalformed, kmsg.NameForKey(h.key), h.version, err)
	}
	return h, req, nil
}

// appendResponse appends resp's frame, answering correlation id corr.
func appendResponse(dst []byte, corr int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // size, set below
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	// ApiVersions' response header never has tags, so that a client that
	// sent a version the broker does not know can still read it.
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// conn is one client connection. Its goroutine (serve) alone reads, handles
// and writes; Stop reaches it only through interruptIdle and by closing nc.
type conn struct {
	s      *Server
	nc     net.Conn
	logger zerolog.Logger

	mu   sync.Mutex // orders the idle read deadline with interruptIdle
	idle bool       // waiting for the next request's size

	wbuf     []byte // response buffer, reused
	clientID string // of the request being handled
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, logger: s.logger.With().Str("remote", nc.RemoteAddr().String()).Logger()}
}

// interruptIdle ends a connection waiting for its next request at once;
// a busy one sees Stop when it comes back to read.
func (c *conn) interruptIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// waitIdle marks the connection idle with the idle timeout as its read
// deadline; false once Stop has begun.
func (c *conn) waitIdle(idle bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = idle
	if c.s.isStopping() {
		return false
	}
	if idle {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
	}
	return true
}

// serve runs the connection until the client leaves, a frame is bad, or
// the server stops.
func (c *conn) serve() {
	defer c.nc.Close()
	ctx, cancel := context.WithCancel(c.s.hard)
	defer cancel()
	c.logger.Debug().Msg("connection opened")
	var size [4]byte
	for {
		if !c.waitIdle(true) {
			return
		}
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			c.logEnd(err)
			return
		}
		if !c.waitIdle(false) {
			return
		}
		body, err := c.readBody(int32(binary.BigEndian.Uint32(size[:])))
		if err != nil {
			c.logEnd(err)
			return
		}
		if err := c.handle(ctx, body); err != nil {
			c.logEnd(err)
			return
		}
	}
}

// readBody reads a frame of n bytes, growing its buffer as the bytes come,
// so that a size alone does not make the broker allocate it.
func (c *conn) readBody(n int32) ([]byte, error) {
	if n < minRequestBytes || int(n) > c.s.opts.MaxRequestBytes {
		return nil, fmt.Errorf("%w: size %d (served: %d to %d)", errFrame, n, minRequestBytes, c.s.opts.MaxRequestBytes)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
	const step = 1 << 20
	// The key comes first: only Produce may use the large limit.
	body := make([]byte, 2, min(int(n), step))
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, fmt.Errorf("%w: 0 of %d bytes: %w", errFrame, n, err)
	}
	if key := int16(binary.BigEndian.Uint16(body)); key != produceKey && int(n) > maxOtherRequestBytes {
		return nil, fmt.Errorf("%w: %s request of %d bytes (served: up to %d)", errFrame, kmsg.NameForKey(key), n, maxOtherRequestBytes)
	}
	for len(body) < int(n) {
		k := min(int(n)-len(body), max(step, len(body)))
		body = append(body, make([]byte, k)...)
		if _, err := io.ReadFull(c.nc, body[len(body)-k:]); err != nil {
			return nil, fmt.Errorf("%w: %d of %d bytes: %w", errFrame, len(body)-k, n, err)
		}
	}
	return body, nil
}

// handle parses and answers one request frame.
func (c *conn) handle(ctx context.Context, body []byte) error {
	h, req, err := parseRequest(body)
	if err != nil {
		return fmt.Errorf("%w (client id %q, correlation id %d)", err, h.clientID, h.corr)
	}
	var resp kmsg.Response
	if req == nil { // ApiVersions of a version not served
		resp = unsupportedApiVersions()
	} else {
		c.clientID = h.clientID
		resp, err = handler(h.key)(c.s, ctx, c, req)
		if err != nil {
			return fmt.Errorf("%w (client id %q, correlation id %d)", err, h.clientID, h.corr)
		}
	}
	if resp == nil { // acks=0
		return nil
	}
	c.wbuf = appendResponse(c.wbuf[:0], h.corr, resp)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.IdleTimeout))
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return fmt.Errorf("kafka: write %s response: %w", kmsg.NameForKey(h.key), err)
	}
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // a large fetch's buffer is not kept for idle times
	}
	return nil
}

// logEnd logs why a connection ended: quietly when the client left or the
// server stopped, loudly when the client sent what the listener refuses.
func (c *conn) logEnd(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.s.isStopping():
		c.logger.Debug().Err(err).Msg("connection closed")
	case errors.Is(err, errFrame), errors.Is(err, errUnknownKey), errors.Is(err, errBadVersion),
		errors.Is(err, errMalformed), errors.Is(err, errUnsupported):
		c.logger.Warn().Err(err).Msg("closing connection: request refused")
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.logger.Debug().Err(err).Msg("connection idle or stalled; closed")
			return
		}
		c.logger.Info().Err(err).Msg("connection closed")
	}
}
