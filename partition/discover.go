package partition

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// cleanMarker is written by a clean Close and removed at start; its absence
// at start means the last run crashed and active segments need a scan.
const cleanMarker = ".clean-shutdown"

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
		return nil, fmt.Errorf("partition: list data dir %s: %w", r.dir, Classify(err))
	}
	counts := map[string]uint32{}
	for _, e := range entries {
		name := e.Name()
		if name == trashDir {
			if err := fsys.RemoveAll(filepath.Join(r.dir, name)); err != nil {
				return nil, fmt.Errorf("partition: empty %s: %w", name, Classify(err))
			}
			continue
		}
		if !e.IsDir() {
			continue
		}
		t, p, ok := splitPartitionDir(name)
		if !ok {
			if name != GroupsDir {
				r.logger.Warn().Str("dir", name).Msg("ignoring directory that is not <topic>-<partition>")
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
			return nil, fmt.Errorf("partition: sync data dir: %w", Classify(err))
		}
	}
	return topics, nil
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

func (r *Registry) writeCleanMarker() error {
	fsys := r.cfg.FS
	f, err := fsys.OpenFile(filepath.Join(r.dir, cleanMarker), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("partition: write clean-shutdown marker: %w", Classify(err))
	}
	if _, err := f.WriteAt([]byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0); err != nil {
		f.Close()
		return fmt.Errorf("partition: write clean-shutdown marker: %w", Classify(err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("partition: sync clean-shutdown marker: %w", Classify(err))
	}
	if err := f.Close(); err != nil {
		return err
	}
	return fsys.SyncDir(r.dir)
}
