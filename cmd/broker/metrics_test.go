package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

func TestParseMetricsAddr(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{"off by default", nil, nil, "", false},
		{"flag", []string{"--metrics-addr", "127.0.0.1:9095"}, nil, "127.0.0.1:9095", false},
		{"env", nil, map[string]string{"LOGBROKER_METRICS_ADDR": ":9095"}, ":9095", false},
		{"flag wins", []string{"--metrics-addr="}, map[string]string{"LOGBROKER_METRICS_ADDR": ":9095"}, "", false},
		{"no port", []string{"--metrics-addr", "localhost"}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, env(tt.env), io.Discard)
			if (err != nil) != tt.wantErr || (err == nil && c.metricsAddr != tt.want) {
				t.Fatalf("metricsAddr = %q, err %v; want %q, error %v", c.metricsAddr, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestRunNotServingWhileRecovering holds the daemon between listening and
// opening storage, and checks what a client and a scraper see then.
func TestRunNotServingWhileRecovering(t *testing.T) {
	checked := false
	testHookRecovering = func(addr net.Addr, metricsAddr string) {
		defer func() { checked = true }()
		conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		hc, err := healthpb.NewHealthClient(conn).Check(ctxT(t), &healthpb.HealthCheckRequest{})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("health while recovering = %v, %v; want NOT_SERVING", hc, err)
		}
		_, err = pb.NewBrokerServiceClient(conn).ListTopics(ctxT(t), &pb.ListTopicsRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("ListTopics while recovering: %v, want UNAVAILABLE", err)
		}
		if body := testutil.Get(t, "http://"+metricsAddr+"/metrics"); !strings.Contains(body, "\nlogbroker_serving 0\n") {
			t.Errorf("logbroker_serving is not 0 while recovering")
		}
	}
	defer func() { testHookRecovering = func(net.Addr, string) {} }()

	d := startDaemon(t, "--data-dir", t.TempDir(), "--metrics-addr", "127.0.0.1:0")
	if !checked {
		t.Fatal("the recovery hook did not run")
	}
	hc, err := healthpb.NewHealthClient(d.conn).Check(ctxT(t), &healthpb.HealthCheckRequest{})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after start = %v, %v", hc, err)
	}
	if _, err := d.client.CreateTopic(ctxT(t), &pb.CreateTopicRequest{Name: "t", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.Produce(ctxT(t), &pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: []byte("a")}, {Value: []byte("b")}}}); err != nil {
		t.Fatal(err)
	}
	body := testutil.Get(t, "http://"+d.start["metrics_addr"].(string)+"/metrics")
	for _, want := range []string{
		"\nlogbroker_serving 1\n",
		`logbroker_partition_next_offset{partition="0",topic="t"} 2`,
		`logbroker_grpc_requests_total{code="OK",method="Produce",service="logbroker.v1.BrokerService"} 1`,
		"logbroker_sync_duration_seconds_count 1\n",
		`logbroker_build_info{goversion="go`,
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestRunWarnsAfterRecoveryScan: a start after a crash (no clean-shutdown
// marker) scans the active segments and says so at warn, with durations.
func TestRunWarnsAfterRecoveryScan(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, "--data-dir", dir)
	if _, err := d.client.CreateTopic(ctxT(t), &pb.CreateTopicRequest{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.Produce(ctxT(t), &pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: []byte("a")}}}); err != nil {
		t.Fatal(err)
	}
	if err := d.stop(t); err != nil {
		t.Fatal(err)
	}
	d.logs.mu.Lock()
	for _, l := range d.logs.lines {
		if l["level"] == "warn" {
			t.Errorf("warning on a clean first run: %v", l)
		}
	}
	d.logs.mu.Unlock()
	if err := os.Remove(filepath.Join(dir, ".clean-shutdown")); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, "--data-dir", dir)
	var warn map[string]any
	d.logs.mu.Lock()
	for _, l := range d.logs.lines {
		if l["level"] == "warn" && strings.HasPrefix(l["message"].(string), "recovery") {
			warn = l
		}
	}
	d.logs.mu.Unlock()
	if warn == nil {
		t.Fatalf("no recovery warning after a crash; logs: %v", d.logs.messages())
	}
	if warn["scanned_segments"] != float64(2) || warn["recovery_ms"] == nil || warn["clean"] != false {
		t.Errorf("recovery warning = %v, want 2 scanned segments, a duration, clean false", warn)
	}
}
