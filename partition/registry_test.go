package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig() Config {
	return Config{SegmentBytes: 4096, IndexIntervalBytes: 256, Logger: zerolog.Nop()}
}

func openTest(t testing.TB, dir string, cfg Config) *Registry {
	t.Helper()
	r, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return r
}

func TestRegistryCreateListDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openTest(t, dir, testConfig())
	defer r.Close()

	for _, tt := range []struct {
		name    string
		parts   uint32
		wantErr error
	}{
		{"b-topic", 3, nil},
		{"a", 1, nil},
		{"a", 2, ErrTopicExists},
		{"", 1, ErrInvalidTopicName},
		{"ok", 0, ErrInvalidPartitions},
		{"ok", DefaultMaxPartitions + 1, ErrInvalidPartitions},
	} {
		_, err := r.CreateTopic(ctx, tt.name, tt.parts)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("CreateTopic(%q, %d) = %v, want %v", tt.name, tt.parts, err, tt.wantErr)
		}
	}
	got := r.Topics()
	want := []TopicInfo{{"a", 1}, {"b-topic", 3}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Topics() = %v, want %v", got, want)
	}
	for p := 0; p < 3; p++ {
		if _, err := os.Stat(filepath.Join(dir, "b-topic-"+string(rune('0'+p)), "00000000000000000000.log")); err != nil {
			t.Errorf("on-disk layout: %v", err)
		}
	}
	if _, err := r.Partition("b-topic", 3); !errors.Is(err, ErrUnknownPartition) {
		t.Errorf("Partition(b-topic, 3) = %v, want ErrUnknownPartition", err)
	}
	if _, err := r.Partition("nope", 0); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("Partition(nope, 0) = %v, want ErrUnknownTopic", err)
	}
	if err := r.DeleteTopic(ctx, "b-topic"); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if err := r.DeleteTopic(ctx, "b-topic"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("second DeleteTopic = %v, want ErrUnknownTopic", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b-topic-0")); !os.IsNotExist(err) {
		t.Errorf("deleted topic dir still there: %v", err)
	}
	if _, err := r.CreateTopic(ctx, "b-topic", 1); err != nil {
		t.Errorf("re-create after delete: %v", err)
	}
}

func TestRegistryRediscoversAndLocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openTest(t, dir, testConfig())
	if _, err := r.CreateTopic(ctx, "my-topic-x", 2); err != nil {
		t.Fatal(err)
	}
	p, _ := r.Partition("my-topic-x", 1)
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testConfig()); !errors.Is(err, ErrDataDirLocked) {
		t.Fatalf("second Open on a used dir = %v, want ErrDataDirLocked", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openTest(t, dir, testConfig())
	defer r.Close()
	if rec := r.Recovery(); !rec.Clean || rec.Topics != 1 || rec.Partitions != 2 || rec.ScannedSegments != 0 {
		t.Errorf("Recovery() = %+v, want clean, 1 topic, 2 partitions, nothing scanned", rec)
	}
	offs, err := r.Offsets(ctx, "my-topic-x")
	if err != nil {
		t.Fatal(err)
	}
	if offs[0].Next != 0 || offs[1].Next != 1 {
		t.Errorf("Offsets = %+v, want next 0 and 1", offs)
	}
}

// TestLongTopicName: a topic name of the longest valid length (249) works on
// a real file system: create, append, reopen, delete, and its partition
// directories stay within NAME_MAX; a partition count whose directory name
// would not fit is refused up front.
func TestLongTopicName(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig()
	cfg.MaxPartitions = 1 << 20
	name := strings.Repeat("a", 249)
	r := openTest(t, dir, cfg)
	if _, err := r.CreateTopic(ctx, name, 3); err != nil {
		t.Fatalf("create: %v", err)
	}
	p, _ := r.Partition(name, 2)
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("x")}}); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openTest(t, dir, cfg)
	defer r.Close()
	p, err := r.Partition(name, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, p, 0, 0); len(got) != 1 {
		t.Fatalf("after reopen read %d records, want 1", len(got))
	}
	if err := r.DeleteTopic(ctx, name); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := r.CreateTopic(ctx, name, 100_001); !errors.Is(err, ErrInvalidPartitions) {
		t.Errorf("100,001 partitions of a 249-byte name: %v, want ErrInvalidPartitions", err)
	}
}
