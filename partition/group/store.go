package group

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/vfs"
)

// One file per group holds its durable state; it is small and rewritten
// whole on every change, which suits the rate of commits (per member, about
// once a second) and keeps recovery trivial: the file is either the old or
// the new version, never a mix.
//
//	logbroker-group 1
//	group <name>
//	topic <name>                      (absent until a join or commit names one)
//	generation <n>
//	offset <topic> <partition> <offset>   (zero or more, sorted)
//	crc32c <8 hex digits>             (CRC-32C of every byte above this line)
//
// Names never contain spaces or newlines (the naming rule), so a line splits
// on single spaces. The checksum catches bit rot and a hand-edited file; a torn
// write cannot happen, as the file is replaced by rename.
const (
	fileMagic  = "logbroker-group 1"
	fileSuffix = ".offsets"
	tmpSuffix  = ".tmp"
	// hashedPrefix starts the file name of a group whose own name is too
	// long for a file name with the suffixes; no group name has a '~'.
	hashedPrefix = "~"
)

// fileName is the name of a group's offsets file: <group>.offsets, or, when
// that and its temp file's name would pass NAME_MAX (names over 243 bytes),
// ~<hex SHA-256 of the name>.offsets. Either way the file holds the name.
func fileName(group string) string {
	if len(group)+len(fileSuffix)+len(tmpSuffix) <= partition.MaxFileName {
		return group + fileSuffix
	}
	sum := sha256.Sum256([]byte(group))
	return hashedPrefix + hex.EncodeToString(sum[:]) + fileSuffix
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// state is a group's durable part.
type state struct {
	group      string
	topic      string
	generation uint64
	offsets    map[string]map[uint32]uint64 // topic -> partition -> next offset to read
}

func encodeState(s *state) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\ngroup %s\n", fileMagic, s.group)
	if s.topic != "" {
		fmt.Fprintf(&b, "topic %s\n", s.topic)
	}
	fmt.Fprintf(&b, "generation %d\n", s.generation)
	topics := make([]string, 0, len(s.offsets))
	for t := range s.offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		for _, po := range sortedOffsets(s.offsets[t]) {
			fmt.Fprintf(&b, "offset %s %d %d\n", t, po.Partition, po.Offset)
		}
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

func decodeState(data []byte) (*state, error) {
	body, sum, ok := cutChecksum(data)
	if !ok {
		return nil, fmt.Errorf("%w: no checksum line at the end", ErrCorrupt)
	}
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if lines[0] != fileMagic {
		return nil, fmt.Errorf("%w: first line %q, want %q", ErrCorrupt, lines[0], fileMagic)
	}
	s := &state{offsets: map[string]map[uint32]uint64{}}
	for i, line := range lines[1:] {
		f := strings.Split(line, " ")
		bad := func() error { return fmt.Errorf("%w: line %d: %q", ErrCorrupt, i+2, line) }
		switch {
		case len(f) == 2 && f[0] == "group" && validateName("group", f[1]) == nil:
			s.group = f[1]
		case len(f) == 2 && f[0] == "topic" && validateName("topic", f[1]) == nil:
			s.topic = f[1]
		case len(f) == 2 && f[0] == "generation":
			g, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return nil, bad()
			}
			s.generation = g
		case len(f) == 4 && f[0] == "offset" && validateName("topic", f[1]) == nil:
			p, err1 := strconv.ParseUint(f[2], 10, 32)
			o, err2 := strconv.ParseUint(f[3], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, bad()
			}
			if s.offsets[f[1]] == nil {
				s.offsets[f[1]] = map[uint32]uint64{}
			}
			s.offsets[f[1]][uint32(p)] = o
		default:
			return nil, bad()
		}
	}
	if s.group == "" {
		return nil, fmt.Errorf("%w: no group line", ErrCorrupt)
	}
	return s, nil
}

// cutChecksum splits off the final "crc32c xxxxxxxx\n" line.
func cutChecksum(data []byte) (body []byte, sum uint32, ok bool) {
	const tail = len("crc32c 00000000\n")
	if len(data) < tail || !bytes.HasPrefix(data[len(data)-tail:], []byte("crc32c ")) || data[len(data)-1] != '\n' {
		return nil, 0, false
	}
	digits := string(data[len(data)-tail+7 : len(data)-1])
	v, err := strconv.ParseUint(digits, 16, 32)
	if err != nil || fmt.Sprintf("%08x", v) != digits { // one spelling only: any flip shows

		return nil, 0, false
	}
	return data[:len(data)-tail], uint32(v), true
}

func sortedOffsets(m map[uint32]uint64) []PartitionOffset {
	if len(m) == 0 {
		return nil
	}
	out := make([]PartitionOffset, 0, len(m))
	for p, o := range m {
		out = append(out, PartitionOffset{Partition: p, Offset: o})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out
}

// writeFileAtomic replaces dir/name with data so that a crash at any moment
// leaves either the old or the new file: write a temp file, sync it, rename
// it over the old one, sync the directory (without which the rename itself
// may not survive power loss).
func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	final := filepath.Join(dir, name)
	tmp := final + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("group: create %s: %w", tmp, partition.Classify(err))
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return fmt.Errorf("group: write %s: %w", tmp, partition.Classify(err))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("group: sync %s: %w", tmp, partition.Classify(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("group: close %s: %w", tmp, partition.Classify(err))
	}
	if err := fsys.Rename(tmp, final); err != nil {
		return fmt.Errorf("group: rename %s: %w", tmp, partition.Classify(err))
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("group: sync dir %s: %w", dir, partition.Classify(err))
	}
	return nil
}

// readFile reads a whole (small) file.
func readFile(fsys vfs.FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	data := make([]byte, size)
	if n, err := f.ReadAt(data, 0); n < len(data) {
		return nil, err
	}
	return data, nil
}
