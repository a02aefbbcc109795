package server

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// ProduceStream serves Produce requests sent as messages of one stream, one
// at a time and in order: each is answered before the next is read, so a
// response received means the request was stored, and a failed request ends
// the stream with its status before anything after it is read.
//
// A request is carried through once taken: its append runs without the
// stream's cancellation, Stop waits for its answer as for a unary call's,
// and Stop ends the stream between requests (one read after Stop began is
// refused, not stored). A stream idle in its read when Stop begins ends
// when Stop closes the connections, after streamGrace.
func (s *service) ProduceStream(stream grpc.BidiStreamingServer[pb.ProduceRequest, pb.ProduceResponse]) error {
	ctx := stream.Context()
	for {
		if s.stopping.Err() != nil {
			return errShuttingDown
		}
		req := &produceRequest{}
		if err := stream.RecvMsg(req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the client closed its side: every request answered
			}
			return s.streamRecvErr(ctx, err)
		}
		// Counted before the check, so that Stop either waits for this
		// request or has begun before it and sees it refused.
		s.calls.enter()
		if s.stopping.Err() != nil {
			s.calls.leave()
			req.release()
			return errShuttingDown // read after Stop began: not stored
		}
		err := s.produceOne(ctx, stream, req)
		s.calls.leave()
		if err != nil {
			return err
		}
	}
}

// produceOne stores req and sends its answer.
func (s *service) produceOne(ctx context.Context, stream grpc.BidiStreamingServer[pb.ProduceRequest, pb.ProduceResponse], req *produceRequest) error {
	start := time.Now()
	resp, err := s.produce(context.WithoutCancel(ctx), req)
	s.opts.Metrics.ObserveProduce(req.acks, time.Since(start))
	if err != nil {
		return err
	}
	return stream.Send(resp)
}

// streamRecvErr words a failed read of a stream's next request: the broker
// stopping, the client gone, or what gRPC reported (a request that does not
// decode, say).
func (s *service) streamRecvErr(ctx context.Context, err error) error {
	if s.stopping.Err() != nil {
		return errShuttingDown
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	return err
}
