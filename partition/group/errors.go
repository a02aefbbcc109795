package group

import (
	"errors"
	"fmt"

	"github.com/logbroker/logbroker/actor"
	"github.com/logbroker/logbroker/partition"
)

// Errors returned by this package; test with errors.Is. Disk-full and
// out-of-descriptors errors wrap partition.ErrDiskFull and
// partition.ErrTooManyOpenFiles, so one mapping serves both packages.
var (
	// ErrInvalidName: a group name or member ID breaks the naming rule
	// (1-249 of [a-zA-Z0-9._-], not "." or "..", as for topics).
	ErrInvalidName = errors.New("group: invalid name")
	// ErrUnknownTopic: the topic to join or commit for does not exist.
	ErrUnknownTopic = errors.New("group: unknown topic")
	// ErrUnknownPartition: a committed partition is not in the topic.
	ErrUnknownPartition = errors.New("group: unknown partition")
	// ErrStaleGeneration: a commit carries a generation other than the
	// group's current one; its sender may have lost the partition.
	ErrStaleGeneration = errors.New("group: stale generation")
	// ErrTopicMismatch: a member tried to join a group whose members consume
	// another topic.
	ErrTopicMismatch = errors.New("group: group consumes another topic")
	// ErrReplaced: a newer join with the same member ID took this member's
	// place (a client reconnecting before its old stream was noticed dead).
	ErrReplaced = errors.New("group: member replaced by a newer join with the same ID")
	// ErrCorrupt: the group's offsets file failed its checksum or format
	// check; the group refuses work until the file is removed.
	ErrCorrupt = errors.New("group: corrupt offsets file")
	// ErrOtherProtocol: the group's members use the other protocol (gRPC
	// or Kafka's); a group's membership follows one protocol at a time.
	ErrOtherProtocol = errors.New("group: group has members of the other protocol")
	// ErrUnknownMember: a Kafka-protocol request names a member that is not
	// in the group (never was, timed out, or left).
	ErrUnknownMember = errors.New("group: unknown member")
	// ErrRebalanceInProgress: the group is rebalancing; join again.
	ErrRebalanceInProgress = errors.New("group: rebalance in progress")
	// ErrMemberIDRequired: a new member's first JoinGroup (v4+) is answered
	// with its ID, to join again with (KIP-394).
	ErrMemberIDRequired = errors.New("group: member ID required: join again with the given one")
	// ErrInconsistentProtocol: the member's protocol type or protocols are
	// not the other members'.
	ErrInconsistentProtocol = errors.New("group: inconsistent group protocol")
	// ErrInvalidSessionTimeout: a session timeout outside the configured
	// minimum and maximum.
	ErrInvalidSessionTimeout = errors.New("group: invalid session timeout")
	// ErrStaticMembership: group.instance.id (KIP-345) is not supported.
	ErrStaticMembership = errors.New("group: static membership (group.instance.id) is not supported")
	// ErrStopped: the coordinator is closed.
	ErrStopped = actor.ErrStopped
)

// validateName applies the topic naming rule to group names and member IDs;
// group names become file names, so the rule also keeps them safe there.
func validateName(kind, name string) error {
	if err := partition.ValidateTopicName(name); err != nil {
		return fmt.Errorf("%w: %s %q: want 1-249 of [a-zA-Z0-9._-], not \".\" or \"..\"", ErrInvalidName, kind, name)
	}
	return nil
}

// ValidateName checks a group name against the naming rule; the error
// wraps ErrInvalidName.
func ValidateName(group string) error { return validateName("group", group) }
