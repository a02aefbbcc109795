package main

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logbroker/logbroker/pb"
)

// TestRunServesKafka: the daemon serves the Kafka protocol on --kafka-addr
// over the same storage as gRPC, says where in its start line, and stops
// with it.
func TestRunServesKafka(t *testing.T) {
	d := startDaemon(t, "--data-dir", t.TempDir())
	addr, _ := d.start["kafka_addr"].(string)
	if addr == "" {
		t.Fatalf("start line lacks kafka_addr: %v", d.start)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctxT(t), 3, 1, nil, "from-kafka"); err != nil {
		t.Fatal(err)
	}
	list, err := d.client.ListTopics(ctxT(t), &pb.ListTopicsRequest{})
	if err != nil || len(list.GetTopics()) != 1 || len(list.GetTopics()[0].GetPartitions()) != 3 {
		t.Fatalf("ListTopics over gRPC = %v, %v; want from-kafka with 3 partitions", list, err)
	}
	r := &kgo.Record{Topic: "from-kafka", Value: []byte("v")}
	if err := cl.ProduceSync(ctxT(t), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := d.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestRunKafkaOff: an empty --kafka-addr serves no Kafka listener.
func TestRunKafkaOff(t *testing.T) {
	d := startDaemon(t, "--data-dir", t.TempDir(), "--kafka-addr", "")
	if addr := d.start["kafka_addr"]; addr != "" {
		t.Errorf("kafka_addr = %v with --kafka-addr empty", addr)
	}
}
