package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// describe turns an error into a sentence for someone who has not read the
// code: what went wrong, and what to do about it. gRPC status codes are the
// broker's word on what failed (see the API's error table).
func describe(err error, e *env) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer from the broker at %s within %s: is it overloaded or stuck? (wait longer with --timeout)", e.addr, e.timeout)
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	// The innermost status keeps the broker's own message; status.FromError
	// would replace it with the whole wrapped text.
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return err.Error()
	}
	st := se.GRPCStatus()
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		if isDialFailure(msg) {
			return fmt.Sprintf("cannot reach broker at %s: is it running? start it with: go run ./cmd/broker (or point lb elsewhere with --addr or %s)", e.addr, addrEnv)
		}
		return fmt.Sprintf("broker at %s is unavailable (it may be shutting down; try again): %s", e.addr, msg)
	case codes.DeadlineExceeded:
		return fmt.Sprintf("no answer from the broker at %s within %s: is it overloaded or stuck? (wait longer with --timeout): %s", e.addr, e.timeout, msg)
	case codes.NotFound:
		return msg + " (see what exists with: lb topics list)"
	case codes.AlreadyExists:
		return msg + " (see it with: lb topics describe NAME, or delete it first with: lb topics delete NAME)"
	case codes.InvalidArgument:
		return "the broker refused the request: " + msg
	case codes.OutOfRange:
		return msg + " (see each partition's valid offsets with: lb topics describe TOPIC)"
	case codes.ResourceExhausted:
		if strings.Contains(msg, "larger than max") {
			// gRPC's own receive limit, not the broker's disk or descriptors.
			return "the request is over the broker's message limit (its --max-record-bytes plus 4 MiB): send fewer or smaller records: " + msg
		}
		return "the broker is out of resources (disk full or too many open files?): " + msg
	case codes.DataLoss:
		return "the broker found corrupt data: " + msg
	case codes.FailedPrecondition:
		return "the broker refused the request in its current state: " + msg
	case codes.Unimplemented:
		return "the broker does not support this request (is it older than lb?): " + msg
	case codes.Canceled:
		return "request cancelled: " + msg
	case codes.Unauthenticated, codes.PermissionDenied:
		return "the broker denied access: " + msg
	default:
		return fmt.Sprintf("broker error (%s): %s", st.Code(), msg)
	}
}

// isDialFailure tells "nothing listens there" from a broker that answered
// UNAVAILABLE itself (e.g. while shutting down).
func isDialFailure(msg string) bool {
	for _, s := range []string{"connection refused", "Error while dialing", "no such host", "connection reset", "i/o timeout", "produced zero addresses"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
