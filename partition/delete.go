package partition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/logbroker/logbroker/vfs"
)

// trashDir holds partition directories of topics being deleted; start-up
// empties it. No topic's directory can be named so: it has no "-<n>" suffix.
const trashDir = ".trash"

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
		return fmt.Errorf("partition: delete topic %q: %w", name, Classify(err))
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
			err = fmt.Errorf("partition: delete topic %q: %w", name, Classify(err))
			return r.undoDelete(name, t, dirs, old, err)
		}
		dirs = append(dirs, to)
	}
	for _, d := range []string{r.dir, trash} {
		if err := fsys.SyncDir(d); err != nil {
			return fmt.Errorf("partition: sync %s: %w", d, Classify(err))
		}
	}
	for p, d := range dirs {
		if err := removeAll(fsys, d); err != nil {
			r.logger.Warn().Err(err).Str("topic", name).Int("partition", p).Str("dir", d).Msg("could not remove deleted partition; start-up will retry")
		}
	}
	r.logger.Info().Str("topic", name).Msg("deleted topic")
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
			r.logger.Error().Err(rerr).Str("topic", name).Int("partition", p).Msg("could not undo a failed topic delete; the topic is gone until restart")
			return fmt.Errorf("%w; undoing it failed: %w", err, Classify(rerr))
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
	r.logger.Warn().Err(err).Str("topic", name).Msg("topic delete failed; the topic is kept")
	return err
}

// removeAll removes a directory of segment files (no subdirectories).
func removeAll(fsys vfs.FS, dir string) error {
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
