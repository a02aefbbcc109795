// Package kproxy is a Kafka-protocol proxy on loopback for tests: it
// forwards frames both ways and lets a test drop a connection just after
// the broker answered a Produce, before the answer reaches the client. So
// a client retries a batch the broker has stored: the case idempotent
// producers exist for.
//
// Concurrency contract: a Proxy is safe for concurrent use. It runs one
// accept goroutine and two per proxied connection, all started by New and
// Accept and all ended and waited for by Close.
package kproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// produceKey is Produce's API key.
const produceKey = 0

// maxFrame bounds a frame the proxy will carry.
const maxFrame = 128 << 20

// Proxy forwards Kafka connections from its listener to an upstream broker.
type Proxy struct {
	lis net.Listener

	mu       sync.Mutex // guards the fields below
	upstream string
	hook     func(n int) bool
	produces int
	inFlight int // the most Produce requests one connection had unanswered
	conns    map[net.Conn]struct{}
	closed   bool

	wg sync.WaitGroup
}

// New listens on a loopback port and forwards to upstream.
func New(upstream string) (*Proxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kproxy: listen: %w", err)
	}
	p := &Proxy{lis: lis, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// SetUpstream sends connections made from now on to addr.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// OnProduceResponse sets a hook called with the count (from 1) of every
// Produce response before it is forwarded; when it returns true the
// response is dropped and its connection closed both ways instead. The
// hook may block: its connection waits.
func (p *Proxy) OnProduceResponse(hook func(n int) bool) {
	p.mu.Lock()
	p.hook = hook
	p.mu.Unlock()
}

// MaxInFlight is the most Produce requests that one connection had sent
// and not yet had answered, so far.
func (p *Proxy) MaxInFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inFlight
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.lis.Close()
	p.wg.Wait()
}

// track registers c, or closes it when the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.upstream
		p.mu.Unlock()
		server, err := net.Dial("tcp", up)
		if err != nil {
			client.Close()
			continue
		}
		if !p.track(client) || !p.track(server) {
			client.Close()
			server.Close()
			continue
		}
		pc := &pair{p: p, client: client, server: server, produce: map[int32]bool{}}
		p.wg.Add(2)
		go pc.requests()
		go pc.responses()
	}
}

// pair is one proxied connection.
type pair struct {
	p              *Proxy
	client, server net.Conn

	mu      sync.Mutex
	produce map[int32]bool // correlation ids of Produce requests in flight
}

func (pc *pair) close() {
	pc.p.untrack(pc.client)
	pc.p.untrack(pc.server)
}

// requests forwards client frames, noting which are Produce requests.
func (pc *pair) requests() {
	defer pc.p.wg.Done()
	defer pc.close()
	for {
		frame, err := readFrame(pc.client)
		if err != nil {
			return
		}
		if len(frame) >= 12 && int16(binary.BigEndian.Uint16(frame[4:])) == produceKey {
			pc.mu.Lock()
			pc.produce[int32(binary.BigEndian.Uint32(frame[8:]))] = true
			n := len(pc.produce)
			pc.mu.Unlock()
			pc.p.mu.Lock()
			pc.p.inFlight = max(pc.p.inFlight, n)
			pc.p.mu.Unlock()
		}
		if _, err := pc.server.Write(frame); err != nil {
			return
		}
	}
}

// responses forwards broker frames, asking the hook about Produce answers.
func (pc *pair) responses() {
	defer pc.p.wg.Done()
	defer pc.close()
	for {
		frame, err := readFrame(pc.server)
		if err != nil || len(frame) < 8 {
			return
		}
		corr := int32(binary.BigEndian.Uint32(frame[4:]))
		pc.mu.Lock()
		isProduce := pc.produce[corr]
		delete(pc.produce, corr)
		pc.mu.Unlock()
		if isProduce {
			pc.p.mu.Lock()
			pc.p.produces++
			n, hook := pc.p.produces, pc.p.hook
			pc.p.mu.Unlock()
			if hook != nil && hook(n) {
				return // the deferred close drops both sides
			}
		}
		if _, err := pc.client.Write(frame); err != nil {
			return
		}
	}
}

// readFrame reads one length-prefixed frame, prefix included.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > maxFrame {
		return nil, errors.New("kproxy: frame too large")
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}
