package partition

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// topicIDFile keeps a topic's UUID in its partition-0 directory. Log
// opening looks only at .log files, and a topic's delete removes the
// directory with it, so a topic made again under the same name gets a new
// UUID, as Kafka's topic IDs (KIP-516) do.
const topicIDFile = "topic.id"

// TopicID returns the topic's UUID, a random (version 4) one made the first
// time it is asked for and kept in the topic's partition-0 directory, so it
// stays the same across restarts. Topics of a data directory written before
// topic IDs existed get theirs on first use. It reads a file: callers that
// ask often should cache it per partition-0 handle (a handle is new when a
// topic is made again).
func (r *Registry) TopicID(name string) ([16]byte, error) {
	var id [16]byte
	// mu orders this with create and delete, so an ID is never written into
	// a directory on its way to the trash, nor made twice.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return id, fmt.Errorf("partition: topic id of %q: broker storage is closed: %w", name, ErrStopped)
	}
	if _, ok := r.load()[name]; !ok {
		return id, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	fsys := r.cfg.FS
	dir := partitionDir(r.dir, name, 0)
	path := filepath.Join(dir, topicIDFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err == nil {
		var buf [17]byte // a 17th byte means the file is not ours
		n, rerr := f.ReadAt(buf[:], 0)
		f.Close()
		if n == len(id) {
			return [16]byte(buf[:16]), nil
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return id, fmt.Errorf("partition: read topic id of %q: %w", name, Classify(rerr))
		}
		// A torn file (a crash while making it): make it again below.
	} else if !errors.Is(err, os.ErrNotExist) {
		return id, fmt.Errorf("partition: read topic id of %q: %w", name, Classify(err))
	}
	if _, err := rand.Read(id[:]); err != nil {
		return [16]byte{}, fmt.Errorf("partition: topic id of %q: %w", name, err)
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	// Written aside and renamed, so the file is either whole or absent.
	if err := writeSynced(fsys, dir, topicIDFile, id[:]); err != nil {
		return [16]byte{}, fmt.Errorf("partition: topic id of %q: %w", name, err)
	}
	return id, nil
}
