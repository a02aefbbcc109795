package client

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// produceSender sends one partition's requests one at a time over a
// ProduceStream, whose messages cost the broker and the client a fraction
// of a unary call each. The broker answers a stream's requests in order and
// ends the stream at the first that fails; the next request opens a new one.
// A broker without ProduceStream (UNIMPLEMENTED, which it answers before
// storing anything) gets unary Produce calls from then on.
//
// Owned by one goroutine (a partition worker's sendLoop).
type produceSender struct {
	broker  pb.BrokerServiceClient
	ctx     context.Context // the producer's: ends every stream on Close
	timeout time.Duration   // per request

	stream pb.BrokerService_ProduceStreamClient // nil until opened, and after a failure
	cancel context.CancelFunc                   // ends stream
	unary  bool                                 // the broker has no ProduceStream
}

// send makes one Produce request and waits for its answer.
func (s *produceSender) send(req *pb.ProduceRequest) (*pb.ProduceResponse, error) {
	resp, unsent, err := s.sendOnce(req)
	if unsent {
		// The stream had ended before the request went out (a broker
		// restart while it sat idle, say): nothing was sent, so one new
		// stream may carry it without risk of storing it twice.
		resp, _, err = s.sendOnce(req)
	}
	return resp, err
}

// sendOnce is send on the current stream. unsent says the stream had
// already ended when the request was to go out: it was not sent.
func (s *produceSender) sendOnce(req *pb.ProduceRequest) (resp *pb.ProduceResponse, unsent bool, err error) {
	if s.unary {
		resp, err = s.sendUnary(req)
		return resp, false, err
	}
	// A request unanswered within the timeout ends its stream, as a unary
	// call's deadline would end the call.
	var timer *time.Timer
	fresh := s.stream == nil
	if fresh {
		ctx, cancel := context.WithCancel(s.ctx)
		// The timeout covers opening the stream too: while its connection
		// is still connecting, ProduceStream waits for it.
		timer = time.AfterFunc(s.timeout, cancel)
		stream, err := s.broker.ProduceStream(ctx)
		if err != nil {
			expired := !timer.Stop()
			cancel()
			if expired && s.ctx.Err() == nil {
				err = status.Errorf(codes.DeadlineExceeded, "client: no produce stream opened within %s: %v", s.timeout, err)
			}
			return nil, false, err
		}
		s.stream, s.cancel = stream, cancel
	} else {
		timer = time.AfterFunc(s.timeout, s.cancel)
	}
	err = s.stream.Send(req)
	ended := errors.Is(err, io.EOF) // the stream was over before this request
	if err == nil || ended {
		resp, err = s.stream.Recv() // after io.EOF, Recv says why it ended
	}
	expired := !timer.Stop()
	if err == nil {
		if expired {
			s.close() // answered, but the timer cancelled the stream just after
		}
		return resp, false, nil
	}
	s.close()
	switch {
	case status.Code(err) == codes.Unimplemented:
		s.unary = true
		resp, err = s.sendUnary(req)
		return resp, false, err
	case ended && !fresh && !expired && s.ctx.Err() == nil:
		return nil, true, err
	case errors.Is(err, io.EOF):
		err = status.Error(codes.Unavailable, "client: the broker ended the produce stream without an answer")
	case expired && s.ctx.Err() == nil:
		err = status.Errorf(codes.DeadlineExceeded, "client: no answer to a produce request within %s", s.timeout)
	}
	return nil, false, err
}

func (s *produceSender) sendUnary(req *pb.ProduceRequest) (*pb.ProduceResponse, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	return s.broker.Produce(ctx, req)
}

// close ends the stream, if one is open.
func (s *produceSender) close() {
	if s.stream != nil {
		s.cancel()
		s.stream, s.cancel = nil, nil
	}
}
