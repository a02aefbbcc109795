package testutil

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWaitForReturnsOnceTrue(t *testing.T) {
	n := 0
	WaitFor(t, "the third poll", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

func TestClosedAddrRefuses(t *testing.T) {
	addr := ClosedAddr(t)
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded; want refused", addr)
	}
}

func TestFlipByte(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte{0x00, 0x0f, 0xff}, 0o644); err != nil {
		t.Fatal(err)
	}
	FlipByte(t, path, 1, 0xff)
	FlipByte(t, path, 2, 0x10)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x00, 0xf0, 0xef}; string(got) != string(want) {
		t.Fatalf("file = % x, want % x", got, want)
	}
}

func TestServeGetSample(t *testing.T) {
	const body = "# HELP x_total X.\n" +
		"x_total 3\n" +
		"y{partition=\"0\",topic=\"t\"} 1.5\n" +
		"y{partition=\"1\",topic=\"t\"} 7\n"
	url := ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) }))
	got := Get(t, url+"/metrics")
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
		wantOK bool
	}{
		{"x_total", nil, 3, true},
		{"y", map[string]string{"topic": "t", "partition": "1"}, 7, true}, // given in any order
		{"y", map[string]string{"partition": "0", "topic": "t"}, 1.5, true},
		{"y", map[string]string{"topic": "t"}, 0, false}, // labels must match exactly
		{"x", nil, 0, false}, // a prefix of a name is not the name
	} {
		v, ok := Sample(got, tt.name, tt.labels)
		if v != tt.want || ok != tt.wantOK {
			t.Errorf("Sample(%s, %v) = %v, %v; want %v, %v", tt.name, tt.labels, v, ok, tt.want, tt.wantOK)
		}
	}
}
