package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/actor"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/vfs"
)

// Dir is the directory under the data directory that holds the offsets
// files. It has no "-<n>" suffix, so the partition registry never takes it
// for a partition.
const Dir = partition.GroupsDir

// Topics is what the coordinator needs to know about topics;
// *partition.Registry has it.
type Topics interface {
	// Topics lists every topic, sorted by name.
	Topics() []partition.TopicInfo
}

// TopicsFunc adapts a function to Topics.
type TopicsFunc func() []partition.TopicInfo

// Topics calls f.
func (f TopicsFunc) Topics() []partition.TopicInfo { return f() }

// Config configures a Coordinator. Topics is required.
type Config struct {
	Topics Topics
	FS     vfs.FS // nil: the OS
	Logger zerolog.Logger
	// Classic bounds the Kafka protocol's session timeouts and delays.
	Classic ClassicConfig
	// Clock runs the Kafka protocol's timeouts; nil: the real one.
	Clock Clock
}

// PartitionOffset is one partition's committed offset: the next offset to
// read (Kafka's convention).
type PartitionOffset struct {
	Partition uint32
	Offset    uint64
}

// Info describes one group.
type Info struct {
	Group      string
	Topic      string // the gRPC members' topic; the last one when they have left
	Generation uint64
	// Members are the gRPC members sorted by ID, or the Kafka members in
	// join order (the first is the leader's candidate).
	Members []MemberInfo
	Err     error // non-nil when the group refuses work (corrupt offsets file)

	// Protocol is the one the members use: ProtocolGRPC, ProtocolKafka, or
	// "" when the group has none.
	Protocol string
	// State is Kafka's name for it (StateStable, ...): a gRPC group with
	// members is Stable, a group without members Empty.
	State string
	// ProtocolType ("consumer") and ProtocolName ("range", "cooperative-sticky",
	// ...) are the Kafka members'; the type stays when they leave.
	ProtocolType, ProtocolName string
}

// The protocols a group's membership may follow.
const (
	ProtocolGRPC  = "grpc"
	ProtocolKafka = "kafka"
)

// MemberInfo is one member and its partitions in the current generation.
// A Kafka member's partitions are inside its Assignment, which only its
// client's protocol can read.
type MemberInfo struct {
	ID         string
	Partitions []uint32 // gRPC members
	// Kafka members: as the client reported them, and the metadata of the
	// group's protocol and the assignment, opaque.
	ClientID, ClientHost string
	Metadata, Assignment []byte
}

// Coordinator owns every consumer group of a broker. Safe for concurrent use.
type Coordinator struct {
	dir    string
	cfg    Config
	logger zerolog.Logger

	mu     sync.Mutex // guards groups and closed: the name -> actor map, never a group's state
	groups map[string]*group
	closed bool
}

// Open loads every group found under <dataDir>/__groups (creating the
// directory if missing) and starts an actor for each. Call it after
// partition.Open, whose lock on the data directory also guards these files.
func Open(dataDir string, cfg Config) (*Coordinator, error) {
	if cfg.Topics == nil {
		return nil, errors.New("group: Config.Topics is nil")
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	c := &Coordinator{
		dir:    filepath.Join(dataDir, Dir),
		cfg:    cfg,
		logger: cfg.Logger.With().Str("component", "groups").Logger(),
		groups: map[string]*group{},
	}
	fsys := cfg.FS
	if _, err := fsys.Stat(c.dir); errors.Is(err, os.ErrNotExist) {
		if err := fsys.MkdirAll(c.dir, 0o755); err != nil {
			return nil, fmt.Errorf("group: create %s: %w", c.dir, partition.Classify(err))
		}
		// The new directory's entry is durable only once its parent is synced.
		if err := fsys.SyncDir(filepath.Clean(dataDir)); err != nil {
			return nil, fmt.Errorf("group: sync %s: %w", dataDir, partition.Classify(err))
		}
	}
	entries, err := fsys.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("group: list %s: %w", c.dir, partition.Classify(err))
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(c.dir, name)
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			// A write that crashed before its rename: the old file stands.
			if err := fsys.Remove(path); err != nil {
				c.Close()
				return nil, fmt.Errorf("group: remove leftover %s: %w", path, partition.Classify(err))
			}
		case strings.HasSuffix(name, fileSuffix) && !e.IsDir():
			c.load(path, strings.TrimSuffix(name, fileSuffix))
		default:
			c.logger.Warn().Str("file", path).Msg("ignoring unexpected file in the groups directory")
		}
	}
	return c, nil
}

// load starts the actor of one group file. A damaged file does not stop the
// broker: that group alone refuses work, saying which file to look at.
func (c *Coordinator) load(path, name string) {
	hashed := strings.HasPrefix(name, hashedPrefix)
	if !hashed && validateName("group", name) != nil {
		c.logger.Warn().Str("file", path).Msg("ignoring offsets file whose name is no group name")
		return
	}
	var broken error
	data, err := readFile(c.cfg.FS, path)
	var s *state
	if err == nil {
		s, err = decodeState(data)
	}
	if hashed {
		// A long name's file is named by its hash: the name is inside.
		if err != nil || fileName(s.group) != filepath.Base(path) {
			c.logger.Error().Err(err).Str("file", path).Msg("ignoring offsets file of a long group name: unreadable, or not that group's (move it away)")
			return
		}
		name = s.group
	}
	st := &state{group: name}
	if err == nil && s.group != name {
		err = fmt.Errorf("%w: it names group %q", ErrCorrupt, s.group)
	}
	if err == nil {
		st = s
	}
	if err != nil {
		broken = fmt.Errorf("group %q: offsets file %s unusable (move it away to reset the group): %w", name, path, err)
		c.logger.Error().Err(broken).Msg("group refuses work")
	}
	c.groups[name] = startGroup(c, st, broken)
}

// Close stops every group actor and waits for them. Open JoinGroup streams
// see their Member's Done close with ErrStopped. Safe to call more than once.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	c.closed = true
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	for _, g := range gs {
		g.loop.Stop()
	}
	return nil
}

// group finds a group's actor, starting one for a new group when create.
func (c *Coordinator) group(name string, create bool) (*group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("%w: group coordinator closed", ErrStopped)
	}
	g := c.groups[name]
	if g == nil && create {
		g = startGroup(c, &state{group: name}, nil)
		c.groups[name] = g
	}
	return g, nil
}

// newGroup is group(name, true), except that a group not yet made is made
// only if check passes: a request its actor would refuse must not leave a
// group behind (an actor for good, which garbage requests could multiply).
// The actor checks again, since topics change.
func (c *Coordinator) newGroup(name string, check func() error) (*group, error) {
	g, err := c.group(name, false)
	if err != nil || g != nil {
		return g, err
	}
	if err := check(); err != nil {
		return nil, err
	}
	return c.group(name, true)
}

// checkTopic is the partition count of topic, or ErrUnknownTopic.
func (c *Coordinator) checkTopic(group, topic string) (uint32, error) {
	n, ok := c.partitions(topic)
	if !ok {
		return 0, fmt.Errorf("%w: %q (group %q)", ErrUnknownTopic, topic, group)
	}
	return n, nil
}

// checkOffsets refuses offsets of a topic, or of partitions, that do not
// exist.
func (c *Coordinator) checkOffsets(group, topic string, offsets []PartitionOffset) error {
	n, err := c.checkTopic(group, topic)
	if err != nil {
		return err
	}
	for _, po := range offsets {
		if po.Partition >= n {
			return fmt.Errorf("%w: partition %d of %q, which has %d", ErrUnknownPartition, po.Partition, topic, n)
		}
	}
	return nil
}

// partitions is the partition count of topic; ok is false when it does not
// exist. It may run on any group's actor: Topics must not block.
func (c *Coordinator) partitions(topic string) (n uint32, ok bool) {
	ts := c.cfg.Topics.Topics()
	i := sort.Search(len(ts), func(i int) bool { return ts[i].Name >= topic })
	if i < len(ts) && ts[i].Name == topic {
		return ts[i].Partitions, true
	}
	return 0, false
}

// Join makes a member of group for topic and returns once the group has
// rebalanced with it and persisted the new generation; m.Assignment() is
// then its first assignment. An empty memberID gets a broker-made one. A
// member with the same ID is replaced (its Done closes with ErrReplaced).
// The caller must call Leave when the member goes away (its stream ends).
func (c *Coordinator) Join(ctx context.Context, group, topic, memberID string) (*Member, error) {
	if err := validateName("group", group); err != nil {
		return nil, err
	}
	if err := validateName("topic", topic); err != nil {
		return nil, err
	}
	if memberID == "" {
		memberID = newMemberID()
	} else if err := validateName("member ID", memberID); err != nil {
		return nil, err
	}
	g, err := c.newGroup(group, func() error {
		_, err := c.checkTopic(group, topic)
		return err
	})
	if err != nil {
		return nil, err
	}
	m := newMember(memberID, g)
	req := joinReq{topic: topic, m: m, reply: make(chan error, 1)}
	jerr, err := actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
	if err == nil {
		err = jerr
	}
	if err != nil {
		// The actor may have taken the join before ctx ended; the queued
		// Leave then undoes it, since the mailbox is first in, first out.
		m.Leave()
		return nil, err
	}
	return m, nil
}

// Commit durably records offsets (next offsets to read) of topic for group
// and returns once they are on disk. A non-zero generation must be the
// group's current one, else ErrStaleGeneration; 0 skips that check.
func (c *Coordinator) Commit(ctx context.Context, group, topic string, generation uint64, offsets []PartitionOffset) error {
	if err := validateName("group", group); err != nil {
		return err
	}
	if err := validateName("topic", topic); err != nil {
		return err
	}
	g, err := c.newGroup(group, func() error {
		if generation != 0 {
			return fmt.Errorf("%w: commit for %q carries generation %d; group %q has never had a member",
				ErrStaleGeneration, topic, generation, group)
		}
		return c.checkOffsets(group, topic, offsets)
	})
	if err != nil {
		return err
	}
	req := commitReq{topic: topic, generation: generation, offsets: offsets, reply: make(chan error, 1)}
	cerr, err := actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
	if err != nil {
		return err
	}
	return cerr
}

// Fetch returns the committed offsets of topic for group, ascending by
// partition; partitions never committed are absent. An unknown group has
// none; an unknown topic is ErrUnknownTopic (offsets kept for a deleted topic
// show again if it is made again).
func (c *Coordinator) Fetch(ctx context.Context, group, topic string) ([]PartitionOffset, error) {
	if err := validateName("group", group); err != nil {
		return nil, err
	}
	if err := validateName("topic", topic); err != nil {
		return nil, err
	}
	if _, ok := c.partitions(topic); !ok {
		return nil, fmt.Errorf("%w: %q (group %q)", ErrUnknownTopic, topic, group)
	}
	g, err := c.group(group, false)
	if err != nil || g == nil {
		return nil, err
	}
	req := fetchReq{topic: topic, reply: make(chan fetchResult, 1)}
	res, err := actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
	if err != nil {
		return nil, err
	}
	return res.offsets, res.err
}

// List describes every group, sorted by name.
func (c *Coordinator) List(ctx context.Context) ([]Info, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: group coordinator closed", ErrStopped)
	}
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	sort.Slice(gs, func(i, j int) bool { return gs[i].name < gs[j].name })
	out := make([]Info, 0, len(gs))
	for _, g := range gs {
		req := infoReq{reply: make(chan Info, 1)}
		in, err := actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// newMemberID names a member that did not name itself.
func newMemberID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported systems
	return "member-" + hex.EncodeToString(b[:])
}
