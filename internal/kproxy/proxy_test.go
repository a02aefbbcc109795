package kproxy

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// frame is a request frame of key with correlation id corr.
func frame(key int16, corr int32) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b, 8)
	binary.BigEndian.PutUint16(b[4:], uint16(key))
	binary.BigEndian.PutUint32(b[8:], uint32(corr))
	return b
}

// TestDropsProduceAnswers: an upstream that answers every request with
// its correlation id; the proxy forwards the Metadata answer and drops the
// connection at the Produce answer the hook picks.
func TestDropsProduceAnswers(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := up.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for {
			f, err := readFrame(c)
			if err != nil {
				return
			}
			resp := make([]byte, 8)
			binary.BigEndian.PutUint32(resp, 4)
			copy(resp[4:], f[8:12])
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	}()
	p, err := New(up.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p.OnProduceResponse(func(n int) bool { return n == 2 })
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, tt := range []struct {
		key     int16
		dropped bool
	}{{3, false}, {0, false}, {0, true}} {
		if _, err := c.Write(frame(tt.key, int32(i))); err != nil {
			t.Fatal(err)
		}
		f, err := readFrame(c)
		if tt.dropped {
			if err != io.EOF {
				t.Fatalf("request %d: %v, want the connection closed", i, err)
			}
			continue
		}
		if err != nil || int32(binary.BigEndian.Uint32(f[4:])) != int32(i) {
			t.Fatalf("request %d: answer %x, %v", i, f, err)
		}
	}
	p.Close()
	up.Close()
	<-done
	if n := p.MaxInFlight(); n != 1 {
		t.Fatalf("max in flight %d, want 1", n)
	}
}
