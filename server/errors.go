package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition"
)

// errShuttingDown ends streams and refuses work once Stop has begun.
var errShuttingDown = status.Error(codes.Unavailable, "server: broker shutting down")

// codeTable maps storage sentinels to API.md's codes. Order matters: a
// partition that failed because the disk filled up wraps both partition.ErrFailed and
// partition.ErrDiskFull, and the more specific cause wins.
var codeTable = []struct {
	err  error
	code codes.Code
}{
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

// toStatus turns an error from storage (or the server's own checks) into a
// gRPC status error whose message is the error's text, which names the bad
// value. Status errors pass through; anything unknown is INTERNAL.
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
