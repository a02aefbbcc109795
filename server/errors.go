package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
)

// errShuttingDown ends streams and refuses work once Stop has begun.
var errShuttingDown = status.Error(codes.Unavailable, "server: broker shutting down")

// codeTable maps the sentinels of storage and of the group coordinator to
// API.md's codes; it is the server's only such table. Order matters: the
// first match wins, so a partition that failed because the disk filled up
// (wrapping both partition.ErrFailed and partition.ErrDiskFull) is reported
// by its more specific cause, and a group error is named by its own sentinel
// before any storage error it wraps.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{group.ErrInvalidName, codes.InvalidArgument},
	{group.ErrUnknownTopic, codes.NotFound},
	{group.ErrUnknownPartition, codes.NotFound},
	{group.ErrStaleGeneration, codes.FailedPrecondition},
	{group.ErrTopicMismatch, codes.FailedPrecondition},
	// The group's members use the Kafka protocol; the message says so.
	{group.ErrOtherProtocol, codes.FailedPrecondition},
	// Another join with this member ID took over; the client that lost is
	// told so, not asked to retry blindly.
	{group.ErrReplaced, codes.Aborted},
	{group.ErrCorrupt, codes.DataLoss},
	{partition.ErrDiskFull, codes.ResourceExhausted},
	{partition.ErrTooManyOpenFiles, codes.ResourceExhausted},
	{partition.ErrCorrupt, codes.DataLoss},
	{partition.ErrTopicExists, codes.AlreadyExists},
	{partition.ErrUnknownTopic, codes.NotFound},
	{partition.ErrUnknownPartition, codes.NotFound},
	{partition.ErrInvalidTopicName, codes.InvalidArgument},
	{partition.ErrInvalidPartitions, codes.InvalidArgument},
	{partition.ErrNoRecords, codes.InvalidArgument},
	{partition.ErrRecordTooLarge, codes.InvalidArgument},
	{partition.ErrOffsetOutOfRange, codes.OutOfRange},
	{partition.ErrStopped, codes.Unavailable},
	// A failed partition refuses writes until the broker restarts, which is to
	// a client what a broker being down is: nothing was acknowledged, retry later.
	{partition.ErrFailed, codes.Unavailable},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus turns an error from storage, the group coordinator or the server's
// own checks into a gRPC status error whose message is the error's text,
// which names the bad value. Status errors pass through; anything unknown is
// INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codeOf(err), err.Error())
}

func codeOf(err error) codes.Code {
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return codes.Internal
}
