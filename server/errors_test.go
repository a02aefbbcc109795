package server

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
	}{
		{"topic exists", partition.ErrTopicExists, codes.AlreadyExists},
		{"unknown topic", partition.ErrUnknownTopic, codes.NotFound},
		{"unknown partition", partition.ErrUnknownPartition, codes.NotFound},
		{"invalid topic name", partition.ErrInvalidTopicName, codes.InvalidArgument},
		{"invalid partitions", partition.ErrInvalidPartitions, codes.InvalidArgument},
		{"no records", partition.ErrNoRecords, codes.InvalidArgument},
		{"record too large", partition.ErrRecordTooLarge, codes.InvalidArgument},
		{"offset out of range", partition.ErrOffsetOutOfRange, codes.OutOfRange},
		{"corrupt", partition.ErrCorrupt, codes.DataLoss},
		{"disk full", partition.ErrDiskFull, codes.ResourceExhausted},
		{"too many open files", partition.ErrTooManyOpenFiles, codes.ResourceExhausted},
		{"stopped", partition.ErrStopped, codes.Unavailable},
		{"failed", partition.ErrFailed, codes.Unavailable},
		{"failed because disk full", fmt.Errorf("%w: %w: %w", partition.ErrFailed, partition.ErrDiskFull, syscall.ENOSPC), codes.ResourceExhausted},
		{"group invalid name", group.ErrInvalidName, codes.InvalidArgument},
		{"group unknown topic", group.ErrUnknownTopic, codes.NotFound},
		{"group unknown partition", group.ErrUnknownPartition, codes.NotFound},
		{"group stale generation", group.ErrStaleGeneration, codes.FailedPrecondition},
		{"group topic mismatch", group.ErrTopicMismatch, codes.FailedPrecondition},
		{"group member replaced", group.ErrReplaced, codes.Aborted},
		{"group corrupt", group.ErrCorrupt, codes.DataLoss},
		{"group stopped", group.ErrStopped, codes.Unavailable},
		{"group offsets on a full disk", fmt.Errorf("group: write x: %w", partition.Classify(syscall.ENOSPC)), codes.ResourceExhausted},
		{"canceled", context.Canceled, codes.Canceled},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"unknown", errors.New("boom"), codes.Internal},
		{"status passes through", status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("topic %q offset 42: %w", "orders", tt.err)
			got := toStatus(err)
			st, ok := status.FromError(got)
			if !ok {
				t.Fatalf("toStatus(%v) = %v, not a status", err, got)
			}
			if st.Code() != tt.wantCode {
				t.Errorf("code = %s, want %s", st.Code(), tt.wantCode)
			}
			if tt.wantCode != codes.PermissionDenied && st.Message() != err.Error() {
				t.Errorf("message = %q, want the error's text %q (which names the value)", st.Message(), err.Error())
			}
		})
	}
	if toStatus(nil) != nil {
		t.Error("toStatus(nil) != nil")
	}
}
