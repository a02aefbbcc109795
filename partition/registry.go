package partition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/logbroker/logbroker/segment"
	"github.com/logbroker/logbroker/vfs"
)

// GroupsDir is the data directory's subdirectory for consumer-group offsets;
// discovery passes over it quietly.
const GroupsDir = "__groups"

// TopicInfo describes one topic.
type TopicInfo struct {
	Name       string
	Partitions uint32
}

type topic struct {
	name  string
	parts []*Partition
}

// Registry maps topic names to their partitions. Safe for concurrent use:
// lookups read an immutable map through an atomic pointer; changes are
// serialised by mu and publish a new map.
type Registry struct {
	dir      string
	cfg      Config
	files    *segment.FileCache
	logger   zerolog.Logger
	lockFile *os.File
	recovery RecoveryStats

	mu     sync.Mutex // serialises create, delete and close
	pidMu  sync.Mutex // guards pids
	pids   producerIDs
	topics atomic.Pointer[map[string]*topic]
	closed bool

	retainStop chan struct{}
	retainDone chan struct{}
}

// Open opens the data directory, creating it if missing, and starts an actor
// for every partition found in it.
func Open(dataDir string, cfg Config) (*Registry, error) {
	start := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	fsys := cfg.FS
	if _, err := fsys.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		if err := fsys.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("partition: create data dir %s: %w", dataDir, Classify(err))
		}
		// A new directory is durable only once its parent is synced.
		if err := fsys.SyncDir(filepath.Dir(filepath.Clean(dataDir))); err != nil {
			return nil, fmt.Errorf("partition: sync parent of %s: %w", dataDir, Classify(err))
		}
	}
	r := &Registry{
		dir:        dataDir,
		cfg:        cfg,
		files:      segment.NewFileCache(fsys, cfg.MaxOpenFiles),
		logger:     cfg.Logger,
		retainStop: make(chan struct{}),
		retainDone: make(chan struct{}),
	}
	if fsys == vfs.OS {
		if r.lockFile, err = lockDir(dataDir); err != nil {
			return nil, err
		}
	}
	topics, err := r.discover()
	if err != nil {
		r.unlock()
		return nil, err
	}
	r.topics.Store(&topics)
	r.recovery.Duration = time.Since(start)
	go r.retentionLoop()
	return r, nil
}

func (r *Registry) openPartition(t string, p uint32, clean, previous bool) (*Partition, segment.RecoverStats, int, error) {
	logger := r.logger.With().Str("topic", t).Uint32("partition", p).Logger()
	l, st, scanned, err := openLog(partitionDir(r.dir, t, p), &r.cfg, r.files, logger, clean, previous)
	if err != nil {
		return nil, st, 0, err
	}
	ps, ld, err := loadProducers(l)
	if err != nil {
		l.closeSegments()
		return nil, st, 0, err
	}
	if ld.producers > 0 || ld.batches > 0 {
		logger.Debug().Bool("from_snapshot", ld.snapshot).Uint64("from_offset", ld.from).Int("batches", ld.batches).
			Int("producers", ld.producers).Dur("took_ms", ld.took).Msg("rebuilt producer state")
	}
	return startPartition(t, p, l, &r.cfg, ps), st, scanned, nil
}

// Recovery reports what Open found.
func (r *Registry) Recovery() RecoveryStats { return r.recovery }

// Config is the effective configuration, defaults filled in.
func (r *Registry) Config() Config { return r.cfg }

func (r *Registry) load() map[string]*topic { return *r.topics.Load() }

func (r *Registry) stopParts(parts []*Partition) {
	for _, p := range parts {
		if p != nil {
			p.stop()
		}
	}
}

// Topics lists every topic, sorted by name.
func (r *Registry) Topics() []TopicInfo {
	m := r.load()
	out := make([]TopicInfo, 0, len(m))
	for _, t := range m {
		out = append(out, TopicInfo{Name: t.name, Partitions: uint32(len(t.parts))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Partition returns the handle of one partition.
func (r *Registry) Partition(topicName string, p uint32) (*Partition, error) {
	t, ok := r.load()[topicName]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topicName)
	}
	if p >= uint32(len(t.parts)) {
		return nil, fmt.Errorf("%w: %d (topic %q has partitions 0 to %d)", ErrUnknownPartition, p, topicName, len(t.parts)-1)
	}
	return t.parts[p], nil
}

// Offsets reports the offsets of every partition of a topic.
func (r *Registry) Offsets(ctx context.Context, topicName string) ([]Offsets, error) {
	t, ok := r.load()[topicName]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topicName)
	}
	out := make([]Offsets, len(t.parts))
	for i, p := range t.parts {
		o, err := p.Offsets(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

// Close stops every partition (each syncs and closes its log), then writes
// the clean-shutdown marker so the next start scans no segment.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	close(r.retainStop)
	<-r.retainDone
	var g errgroup.Group
	g.SetLimit(8)
	for _, t := range r.load() {
		for _, p := range t.parts {
			g.Go(func() error {
				p.stop()
				return p.closeErr
			})
		}
	}
	err := g.Wait()
	if err == nil {
		err = r.writeCleanMarker()
	}
	r.unlock()
	return err
}
