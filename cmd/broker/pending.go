package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/server"
)

// errRecovering answers a call that reaches storage before it is open. The
// server refuses BrokerService calls until Ready, so this is a backstop.
var errRecovering = fmt.Errorf("broker starting: data directory still recovering: %w", partition.ErrStopped)

// pending is the server's storage while the data directory recovers: the
// gRPC listener (and health, NOT_SERVING) is up before storage is, and set
// hands storage over once it is open. Safe for concurrent use.
type pending struct{ st atomic.Pointer[storage] }

var (
	_ server.Registry = (*pending)(nil)
	_ server.Groups   = (*pending)(nil)
)

func (p *pending) set(st storage) { p.st.Store(&st) }

func (p *pending) get() (*storage, error) {
	if st := p.st.Load(); st != nil {
		return st, nil
	}
	return nil, errRecovering
}

func (p *pending) CreateTopic(ctx context.Context, name string, n uint32) (partition.TopicInfo, error) {
	st, err := p.get()
	if err != nil {
		return partition.TopicInfo{}, err
	}
	return st.reg.CreateTopic(ctx, name, n)
}

func (p *pending) DeleteTopic(ctx context.Context, name string) error {
	st, err := p.get()
	if err != nil {
		return err
	}
	return st.reg.DeleteTopic(ctx, name)
}

func (p *pending) Topics() []partition.TopicInfo {
	st, err := p.get()
	if err != nil {
		return nil
	}
	return st.reg.Topics()
}

func (p *pending) Partition(topic string, id uint32) (server.Partition, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.api.Partition(topic, id)
}

func (p *pending) Offsets(ctx context.Context, topic string) ([]partition.Offsets, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.reg.Offsets(ctx, topic)
}

func (p *pending) Join(ctx context.Context, g, topic, memberID string) (*group.Member, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.groups.Join(ctx, g, topic, memberID)
}

func (p *pending) Commit(ctx context.Context, g, topic string, generation uint64, offsets []group.PartitionOffset) error {
	st, err := p.get()
	if err != nil {
		return err
	}
	return st.groups.Commit(ctx, g, topic, generation, offsets)
}

func (p *pending) Fetch(ctx context.Context, g, topic string) ([]group.PartitionOffset, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.groups.Fetch(ctx, g, topic)
}

func (p *pending) List(ctx context.Context) ([]group.Info, error) {
	st, err := p.get()
	if err != nil {
		return nil, err
	}
	return st.groups.List(ctx)
}
