package main

import (
	"fmt"
	"net"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/logbroker/logbroker/kafka"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
)

// kafkaListener is the Kafka protocol's listener; nil when --kafka-addr is
// empty, and then every method does nothing.
type kafkaListener struct{ lis net.Listener }

func listenKafka(cfg config) (*kafkaListener, error) {
	if cfg.kafkaAddr == "" {
		return nil, nil
	}
	lis, err := net.Listen("tcp", cfg.kafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (--kafka-addr): %w", cfg.kafkaAddr, err)
	}
	return &kafkaListener{lis}, nil
}

func (k *kafkaListener) addr() string {
	if k == nil {
		return ""
	}
	return k.lis.Addr().String()
}

// close closes a listener that never served.
func (k *kafkaListener) close() {
	if k != nil {
		k.lis.Close()
	}
}

// serve starts the Kafka front end on reg in g; Server.Stop ends it.
func (k *kafkaListener) serve(g *errgroup.Group, cfg config, logger zerolog.Logger, reg *partition.Registry, groups *group.Coordinator) (*kafka.Server, error) {
	if k == nil {
		return nil, nil
	}
	srv, err := kafka.New(kafka.Options{
		Registry:         kafka.FromRegistry(reg),
		Groups:           groups,
		Logger:           logger,
		AdvertiseAddr:    cfg.kafkaAdvertise,
		AutoCreateTopics: cfg.kafkaAutoCreate,
		MaxPartitions:    uint32(cfg.maxPartitions),
	})
	if err != nil {
		k.close()
		return nil, err
	}
	g.Go(func() error { return srv.Serve(k.lis) })
	return srv, nil
}
