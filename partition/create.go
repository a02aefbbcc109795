package partition

import (
	"context"
	"fmt"
	"path/filepath"
)

// MaxFileName is the longest file name Linux file systems take (NAME_MAX).
const MaxFileName = 255

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
		return TopicInfo{}, fmt.Errorf("partition: sync data dir: %w", Classify(err))
	}
	next := make(map[string]*topic, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = t
	r.topics.Store(&next)
	r.logger.Info().Str("topic", name).Uint32("partitions", partitions).Msg("created topic")
	return TopicInfo{Name: name, Partitions: partitions}, nil
}

func (r *Registry) removeTopicDirs(name string, n uint32) {
	for p := uint32(0); p < n; p++ {
		_ = removeAll(r.cfg.FS, partitionDir(r.dir, name, p))
	}
}
