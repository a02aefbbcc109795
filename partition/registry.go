package partition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/logbroker/logbroker/segment"
)

// cleanMarker is written by a clean Close and removed at start; its absence
// at start means the last run crashed and active segments need a scan.
const cleanMarker = ".clean-shutdown"

// GroupsDir is the data directory's subdirectory for consumer-group offsets;
// discovery passes over it quietly.
const GroupsDir = "__groups"

// MaxFileName is the longest file name Linux file systems take (NAME_MAX).
const MaxFileName = 255

// trashDir holds partition directories of topics being deleted; start-up
// empties it. No topic's directory can be named so: it has no "-<n>" suffix.
const trashDir = ".trash"

// TopicInfo describes one topic.
type TopicInfo struct {
	Name       string
	Partitions uint32
}

// RecoveryStats says what start-up found and how much it had to scan.
type RecoveryStats struct {
	Clean           bool // the previous run shut down cleanly
	Topics          int
	Partitions      int
	Segments        int
	ScannedSegments int   // segments CRC-scanned by crash recovery (0 after a clean stop)
	ScannedBytes    int64 // bytes CRC-checked by crash recovery
	TruncatedBytes  int64 // torn tail bytes cut off
	Duration        time.Duration
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
	log      zerolog.Logger
	lockFile *os.File
	recovery RecoveryStats

	mu     sync.Mutex // serialises create, delete and close
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
			return nil, fmt.Errorf("partition: create data dir %s: %w", dataDir, classify(err))
		}
		// A new directory is durable only once its parent is synced.
		if err := fsys.SyncDir(filepath.Dir(filepath.Clean(dataDir))); err != nil {
			return nil, fmt.Errorf("partition: sync parent of %s: %w", dataDir, classify(err))
		}
	}
	r := &Registry{
		dir:        dataDir,
		cfg:        cfg,
		files:      segment.NewFileCache(fsys, cfg.MaxOpenFiles),
		log:        cfg.Logger,
		retainStop: make(chan struct{}),
		retainDone: make(chan struct{}),
	}
	if fsys == segment.OS {
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

// discover finds every <topic>-<partition> directory and opens its log.
func (r *Registry) discover() (map[string]*topic, error) {
	fsys := r.cfg.FS
	_, err := fsys.Stat(filepath.Join(r.dir, cleanMarker))
	clean := err == nil
	r.recovery.Clean = clean
	// Without the format marker the previous release wrote this directory:
	// its partitions are upgraded as they open, then the marker is written.
	_, err = fsys.Stat(filepath.Join(r.dir, formatMarker))
	previous := err != nil
	entries, err := fsys.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("partition: list data dir %s: %w", r.dir, classify(err))
	}
	counts := map[string]uint32{}
	for _, e := range entries {
		name := e.Name()
		if name == trashDir {
			if err := fsys.RemoveAll(filepath.Join(r.dir, name)); err != nil {
				return nil, fmt.Errorf("partition: empty %s: %w", name, classify(err))
			}
			continue
		}
		if !e.IsDir() {
			continue
		}
		t, p, ok := splitPartitionDir(name)
		if !ok {
			if name != GroupsDir {
				r.log.Warn().Str("dir", name).Msg("ignoring directory that is not <topic>-<partition>")
			}
			continue
		}
		if p+1 > counts[t] {
			counts[t] = p + 1
		}
	}
	type job struct {
		t string
		p uint32
	}
	var jobs []job
	topics := make(map[string]*topic, len(counts))
	for t, n := range counts {
		topics[t] = &topic{name: t, parts: make([]*Partition, n)}
		for p := uint32(0); p < n; p++ {
			jobs = append(jobs, job{t, p})
		}
	}
	var g errgroup.Group
	g.SetLimit(8)
	var mu sync.Mutex // guards the stats below while partitions open in parallel
	for _, j := range jobs {
		g.Go(func() error {
			p, st, scanned, err := r.openPartition(j.t, j.p, clean, previous)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			topics[j.t].parts[j.p] = p
			r.recovery.Segments += p.plog.Segments()
			r.recovery.ScannedSegments += scanned
			r.recovery.ScannedBytes += st.ScannedBytes
			r.recovery.TruncatedBytes += st.TruncatedBytes
			return nil
		})
	}
	stopAll := func() {
		for _, t := range topics {
			r.stopParts(t.parts)
		}
	}
	if err := g.Wait(); err != nil {
		stopAll()
		return nil, err
	}
	r.recovery.Topics = len(topics)
	r.recovery.Partitions = len(jobs)
	if previous {
		if err := writeFormatMarker(fsys, r.dir); err != nil {
			stopAll()
			return nil, err
		}
	}
	// From here on a crash must be treated as one.
	if clean {
		if err := fsys.Remove(filepath.Join(r.dir, cleanMarker)); err != nil {
			stopAll()
			return nil, fmt.Errorf("partition: remove clean-shutdown marker: %w", err)
		}
		if err := fsys.SyncDir(r.dir); err != nil {
			stopAll()
			return nil, fmt.Errorf("partition: sync data dir: %w", classify(err))
		}
	}
	return topics, nil
}

func (r *Registry) openPartition(t string, p uint32, clean, previous bool) (*Partition, segment.RecoverStats, int, error) {
	log := r.log.With().Str("topic", t).Uint32("partition", p).Logger()
	l, st, scanned, err := openLog(partitionDir(r.dir, t, p), &r.cfg, r.files, log, clean, previous)
	if err != nil {
		return nil, st, 0, err
	}
	return startPartition(t, p, l, &r.cfg), st, scanned, nil
}

// splitPartitionDir splits "<topic>-<partition>" at the last '-'.
func splitPartitionDir(name string) (string, uint32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, false
	}
	t, ps := name[:i], name[i+1:]
	p, err := strconv.ParseUint(ps, 10, 32)
	if err != nil || strconv.FormatUint(p, 10) != ps || ValidateTopicName(t) != nil {
		return "", 0, false
	}
	return t, uint32(p), true
}

// ValidateTopicName checks 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
func ValidateTopicName(name string) error {
	if len(name) == 0 || len(name) > 249 {
		return fmt.Errorf("%w: %q must be 1 to 249 characters, got %d", ErrInvalidTopicName, name, len(name))
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: %q is reserved", ErrInvalidTopicName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has character %q at %d; allowed are [a-zA-Z0-9._-]", ErrInvalidTopicName, name, c, i)
		}
	}
	return nil
}

// Recovery reports what Open found.
func (r *Registry) Recovery() RecoveryStats { return r.recovery }

// Config is the effective configuration, defaults filled in.
func (r *Registry) Config() Config { return r.cfg }

func (r *Registry) load() map[string]*topic { return *r.topics.Load() }

// CreateTopic creates name with the given number of partitions.
func (r *Registry) CreateTopic(ctx context.Context, name string, partitions uint32) (TopicInfo, error) {
	if err := ValidateTopicName(name); err != nil {
		return TopicInfo{}, err
	}
	if partitions == 0 || partitions > r.cfg.MaxPartitions {
		return TopicInfo{}, fmt.Errorf("%w: %d for topic %q; want 1 to %d", ErrInvalidPartitions, partitions, name, r.cfg.MaxPartitions)
	}
	if dir := filepath.Base(partitionDir(r.dir, name, partitions-1)); len(dir) > MaxFileName {
		return TopicInfo{}, fmt.Errorf("%w: %d for topic %q: its directory name %s... would be %d bytes, over the file system's %d",
			ErrInvalidPartitions, partitions, name, dir[:16], len(dir), MaxFileName)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return TopicInfo{}, fmt.Errorf("partition: create topic %q: broker storage is closed: %w", name, ErrStopped)
	}
	old := r.load()
	if _, ok := old[name]; ok {
		return TopicInfo{}, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	t := &topic{name: name, parts: make([]*Partition, partitions)}
	for p := uint32(0); p < partitions; p++ {
		if err := ctx.Err(); err != nil {
			r.stopParts(t.parts)
			r.removeTopicDirs(name, partitions)
			return TopicInfo{}, err
		}
		part, _, _, err := r.openPartition(name, p, true, false)
		if err != nil {
			r.stopParts(t.parts)
			r.removeTopicDirs(name, partitions)
			return TopicInfo{}, err
		}
		t.parts[p] = part
	}
	if err := r.cfg.FS.SyncDir(r.dir); err != nil {
		r.stopParts(t.parts)
		r.removeTopicDirs(name, partitions) // else it comes back at the next start
		return TopicInfo{}, fmt.Errorf("partition: sync data dir: %w", classify(err))
	}
	next := make(map[string]*topic, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = t
	r.topics.Store(&next)
	r.log.Info().Str("topic", name).Uint32("partitions", partitions).Msg("created topic")
	return TopicInfo{Name: name, Partitions: partitions}, nil
}

func (r *Registry) stopParts(parts []*Partition) {
	for _, p := range parts {
		if p != nil {
			p.stop()
		}
	}
}

func (r *Registry) removeTopicDirs(name string, n uint32) {
	for p := uint32(0); p < n; p++ {
		_ = removeAll(r.cfg.FS, partitionDir(r.dir, name, p))
	}
}

// DeleteTopic stops the topic's partitions and removes their data. Open
// streams on it see ErrStopped.
func (r *Registry) DeleteTopic(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("partition: delete topic %q: broker storage is closed: %w", name, ErrStopped)
	}
	old := r.load()
	t, ok := old[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	fsys := r.cfg.FS
	trash := filepath.Join(r.dir, trashDir)
	if err := fsys.MkdirAll(trash, 0o755); err != nil {
		return fmt.Errorf("partition: delete topic %q: %w", name, classify(err))
	}
	next := make(map[string]*topic, len(old))
	for k, v := range old {
		if k != name {
			next[k] = v
		}
	}
	r.topics.Store(&next)
	r.stopParts(t.parts)
	// Rename first so a crash mid-delete never leaves a topic with holes.
	stamp := time.Now().UnixNano()
	var dirs []string
	for p := range t.parts {
		from := partitionDir(r.dir, name, uint32(p))
		// The stamp and partition make the name unique; a topic name of up
		// to 249 bytes would not fit a file name's 255 with them, so only its
		// start is kept, for whoever looks inside.
		to := filepath.Join(trash, fmt.Sprintf("%d-%d-%.64s", stamp, p, name))
		if err := fsys.Rename(from, to); err != nil {
			err = fmt.Errorf("partition: delete topic %q: %w", name, classify(err))
			return r.undoDelete(name, t, dirs, old, err)
		}
		dirs = append(dirs, to)
	}
	for _, d := range []string{r.dir, trash} {
		if err := fsys.SyncDir(d); err != nil {
			return fmt.Errorf("partition: sync %s: %w", d, classify(err))
		}
	}
	for p, d := range dirs {
		if err := removeAll(fsys, d); err != nil {
			r.log.Warn().Err(err).Str("topic", name).Int("partition", p).Str("dir", d).Msg("could not remove deleted partition; start-up will retry")
		}
	}
	r.log.Info().Str("topic", name).Msg("deleted topic")
	return nil
}

// undoDelete puts a topic whose delete failed half way back as it was: the
// directories already moved return, and its partitions open again, so that
// it neither comes back with holes at the next start nor lends its old data
// to a topic made later under its name. err is the delete's error. r.mu is
// held.
func (r *Registry) undoDelete(name string, t *topic, moved []string, old map[string]*topic, err error) error {
	fsys := r.cfg.FS
	for p := len(moved) - 1; p >= 0; p-- {
		if rerr := fsys.Rename(moved[p], partitionDir(r.dir, name, uint32(p))); rerr != nil {
			r.log.Error().Err(rerr).Str("topic", name).Int("partition", p).Msg("could not undo a failed topic delete; the topic is gone until restart")
			return fmt.Errorf("%w; undoing it failed: %w", err, classify(rerr))
		}
	}
	back := &topic{name: name, parts: make([]*Partition, len(t.parts))}
	for p := range back.parts {
		part, _, _, oerr := r.openPartition(name, uint32(p), true, false)
		if oerr != nil {
			r.stopParts(back.parts)
			return fmt.Errorf("%w; reopening it failed: %w", err, oerr)
		}
		back.parts[p] = part
	}
	next := make(map[string]*topic, len(old))
	for k, v := range old {
		next[k] = v
	}
	next[name] = back
	r.topics.Store(&next)
	r.log.Warn().Err(err).Str("topic", name).Msg("topic delete failed; the topic is kept")
	return err
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

// retentionLoop nudges every partition to apply retention now and then.
func (r *Registry) retentionLoop() {
	defer close(r.retainDone)
	if r.cfg.RetentionBytes == 0 && r.cfg.RetentionAge == 0 {
		<-r.retainStop
		return
	}
	t := time.NewTicker(r.cfg.RetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for _, tp := range r.load() {
				for _, p := range tp.parts {
					p.retainc.Notify()
				}
			}
		case <-r.retainStop:
			return
		}
	}
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

func (r *Registry) writeCleanMarker() error {
	fsys := r.cfg.FS
	f, err := fsys.OpenFile(filepath.Join(r.dir, cleanMarker), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("partition: write clean-shutdown marker: %w", classify(err))
	}
	if _, err := f.WriteAt([]byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0); err != nil {
		f.Close()
		return fmt.Errorf("partition: write clean-shutdown marker: %w", classify(err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("partition: sync clean-shutdown marker: %w", classify(err))
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fsys.SyncDir(r.dir)
}

func (r *Registry) unlock() {
	if r.lockFile != nil {
		r.lockFile.Close()
		r.lockFile = nil
	}
}

// removeAll removes a directory of segment files (no subdirectories).
func removeAll(fsys segment.FS, dir string) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := fsys.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := fsys.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
