package partition

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/logbroker/logbroker/vfs"
)

// formatMarker, in the data directory, says that every partition directory
// without a formatFile holds RecordBatch v2 only. The previous release
// wrote no marker: at the first start after an upgrade every partition is
// legacy, is upgraded as it opens (given a formatFile), and then the marker
// is written. A fresh data directory gets it at once.
const formatMarker = ".format"

// formatFile names, in the directory of a partition the previous release
// wrote, the first offset stored as RecordBatch v2: segments below it hold
// the previous release's frames and are only read. Its content is
// "recordbatch-v2 <offset>\n".
const formatFile = "format"

const formatPrefix = "recordbatch-v2 "

// readFormat returns the first v2 offset of the partition in dir, and false
// when the file is missing.
func readFormat(fsys vfs.FS, dir string) (uint64, bool, error) {
	name := filepath.Join(dir, formatFile)
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("partition: read %s: %w", name, Classify(err))
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, false, fmt.Errorf("partition: read %s: %w", name, Classify(err))
	}
	s, ok := strings.CutPrefix(string(buf[:n]), formatPrefix)
	s, nl := strings.CutSuffix(s, "\n")
	v, perr := strconv.ParseUint(s, 10, 64)
	if !ok || !nl || perr != nil {
		return 0, false, fmt.Errorf("partition: %s holds %q, want %q and an offset", name, buf[:n], formatPrefix)
	}
	return v, true, nil
}

// writeFormat records that the partition in dir stores v2 from offset on,
// durably.
func writeFormat(fsys vfs.FS, dir string, offset uint64) error {
	return writeSynced(fsys, dir, formatFile, []byte(formatPrefix+strconv.FormatUint(offset, 10)+"\n"))
}

// writeSynced replaces dir/name with data: written to a temporary file,
// synced, renamed over, and the directory synced before it returns.
func writeSynced(fsys vfs.FS, dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("partition: write %s: %w", path, Classify(err))
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err == nil {
		err = fsys.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("partition: write %s: %w", path, Classify(err))
	}
	return nil
}

// writeFormatMarker marks the data directory dir as all v2 but where a
// partition's formatFile says otherwise, durably.
func writeFormatMarker(fsys vfs.FS, dir string) error {
	return writeSynced(fsys, dir, formatMarker, []byte("recordbatch-v2\n"))
}
