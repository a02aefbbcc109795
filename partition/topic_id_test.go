package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestTopicID: an ID is a version-4 UUID, one per topic, the same after a
// restart, and new when the topic is deleted and made again.
func TestTopicID(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r := openTest(t, dir, testConfig())
	for _, n := range []string{"a", "b"} {
		if _, err := r.CreateTopic(ctx, n, 2); err != nil {
			t.Fatal(err)
		}
	}
	a, err := r.TopicID("a")
	if err != nil {
		t.Fatal(err)
	}
	if a[6]>>4 != 4 || a[8]>>6 != 2 {
		t.Errorf("id %x is not a version-4 RFC 4122 UUID", a)
	}
	if again, _ := r.TopicID("a"); again != a {
		t.Errorf("second TopicID(a) = %x, first %x", again, a)
	}
	if b, _ := r.TopicID("b"); b == a {
		t.Errorf("topics a and b share id %x", a)
	}
	if _, err := r.TopicID("nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("TopicID(nope) = %v, want ErrUnknownTopic", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	r = openTest(t, dir, testConfig())
	defer r.Close()
	if got, err := r.TopicID("a"); err != nil || got != a {
		t.Errorf("after restart TopicID(a) = %x, %v; want %x", got, err, a)
	}
	if err := r.DeleteTopic(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateTopic(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	if got, err := r.TopicID("a"); err != nil || got == a {
		t.Errorf("recreated topic's TopicID(a) = %x, %v; want a new id, not %x", got, err, a)
	}
}

// TestTopicIDTorn: a file cut short by a crash is replaced, not trusted.
func TestTopicIDTorn(t *testing.T) {
	dir := t.TempDir()
	r := openTest(t, dir, testConfig())
	defer r.Close()
	if _, err := r.CreateTopic(context.Background(), "a", 1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a-0", topicIDFile)
	if err := os.WriteFile(path, []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := r.TopicID("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 16 || [16]byte(b) != id {
		t.Errorf("file after TopicID = %x, %v; want the 16 bytes of %x", b, err, id)
	}
}
