package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
)

// codeTable maps storage errors to Kafka error codes. Order matters: the
// first match wins, so the more specific cause comes first (a batch over
// the size limit is also ErrInvalidBatch; a partition failed by a full disk
// is both ErrFailed and ErrDiskFull).
var codeTable = []struct {
	err  error
	code *kerr.Error
}{
	// The group coordinator's, first: they may wrap storage errors.
	{group.ErrInvalidName, kerr.InvalidGroupID},
	{group.ErrUnknownMember, kerr.UnknownMemberID},
	{group.ErrStaleGeneration, kerr.IllegalGeneration},
	{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	{group.ErrMemberIDRequired, kerr.MemberIDRequired},
	{group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol},
	// A group held by gRPC members: clients report INCONSISTENT_GROUP_PROTOCOL
	// ("incompatible with those of existing members"), which is what it is.
	{group.ErrOtherProtocol, kerr.InconsistentGroupProtocol},
	{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	{group.ErrStaticMembership, kerr.UnsupportedVersion},
	{group.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{group.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{partition.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{partition.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{batch.ErrTooLarge, kerr.MessageTooLarge},
	{partition.ErrRecordTooLarge, kerr.MessageTooLarge},
	{batch.ErrCRC, kerr.CorruptMessage},
	{batch.ErrTorn, kerr.CorruptMessage},
	{partition.ErrInvalidBatch, kerr.InvalidRecord},
	{partition.ErrNoRecords, kerr.InvalidRecord},
	{partition.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{partition.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{partition.ErrTopicExists, kerr.TopicAlreadyExists},
	{partition.ErrInvalidTopicName, kerr.InvalidTopicException},
	{partition.ErrInvalidPartitions, kerr.InvalidPartitions},
	{partition.ErrDiskFull, kerr.KafkaStorageError},
	{partition.ErrTooManyOpenFiles, kerr.KafkaStorageError},
	{partition.ErrCorrupt, kerr.KafkaStorageError},
	{partition.ErrFailed, kerr.KafkaStorageError},
	// A stopped partition is one being deleted or a broker stopping: the
	// client refreshes its metadata and learns which.
	{partition.ErrStopped, kerr.NotLeaderForPartition},
	{context.Canceled, kerr.RequestTimedOut},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
}

// errorCode is the Kafka error code for err: 0 for nil, UNKNOWN_SERVER_ERROR
// for what the table does not name.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var re *refusal
	if errors.As(err, &re) {
		return re.code.Code
	}
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// groupErrorCode is errorCode for the group APIs, where a stopped
// coordinator or an interrupted wait means "find the coordinator again".
func groupErrorCode(err error) int16 {
	if errors.Is(err, group.ErrStopped) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kerr.CoordinatorNotAvailable.Code
	}
	return errorCode(err)
}

// errorMessage is err's text for responses that carry one, nil for nil.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// refusal is a request the front end itself refuses, with its Kafka error.
type refusal struct {
	code *kerr.Error
	msg  string
}

func (e *refusal) Error() string { return "kafka: " + e.msg }

func refuse(code *kerr.Error, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}
