package client

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// scriptedBroker opens scripted ProduceStreams, in order; other methods are
// not used.
type scriptedBroker struct {
	pb.BrokerServiceClient
	streams []*scriptedStream
	opened  int
}

func (b *scriptedBroker) ProduceStream(context.Context, ...grpc.CallOption) (grpc.BidiStreamingClient[pb.ProduceRequest, pb.ProduceResponse], error) {
	s := b.streams[b.opened]
	b.opened++
	return s, nil
}

// scriptedStream answers every request with resp, or fails: sendErr from
// Send, then recvErr from Recv.
type scriptedStream struct {
	grpc.ClientStream
	sendErr, recvErr error
	resp             *pb.ProduceResponse
	sent             int
}

func (s *scriptedStream) Send(*pb.ProduceRequest) error {
	if s.sendErr != nil {
		return s.sendErr
	}
	s.sent++
	return nil
}

func (s *scriptedStream) Recv() (*pb.ProduceResponse, error) {
	if s.recvErr != nil {
		return nil, s.recvErr
	}
	return s.resp, nil
}

func (s *scriptedStream) CloseSend() error { return nil }

// TestProduceSenderRetry: a request is sent again on a new stream only when
// the old stream had ended before it went out (Send said io.EOF); a request
// that went out and lost its answer, or a new stream that fails at once, is
// reported, never resent.
func TestProduceSenderRetry(t *testing.T) {
	gone := status.Error(codes.Unavailable, "error reading from server: EOF")
	ok := &pb.ProduceResponse{BaseOffset: 7, LastOffset: 7}
	tests := []struct {
		name                string
		oldSend             error             // what the first stream's Send says to the second request
		next                []*scriptedStream // streams opened after the first
		wantErr             codes.Code
		wantOpened, wantOld int // streams opened in all; requests the old one carried
	}{
		{"stream ended while idle: resent on a new one", io.EOF, []*scriptedStream{{resp: ok}}, codes.OK, 2, 1},
		{"sent, then the stream failed: reported", nil, nil, codes.Unavailable, 1, 2},
		{"ended while idle, and the new stream ends too: reported", io.EOF, []*scriptedStream{{sendErr: io.EOF, recvErr: gone}}, codes.Unavailable, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := &scriptedStream{resp: ok}
			b := &scriptedBroker{streams: append([]*scriptedStream{old}, tt.next...)}
			s := &produceSender{broker: b, ctx: context.Background(), timeout: time.Minute}
			defer s.close()
			if _, err := s.send(&pb.ProduceRequest{}); err != nil {
				t.Fatalf("first request: %v", err)
			}
			old.sendErr, old.recvErr = tt.oldSend, gone // the broker went away
			resp, err := s.send(&pb.ProduceRequest{})
			if status.Code(err) != tt.wantErr {
				t.Fatalf("second request: %v, want %s", err, tt.wantErr)
			}
			if err == nil && resp.GetBaseOffset() != 7 {
				t.Fatalf("second request answered %v", resp)
			}
			if b.opened != tt.wantOpened || old.sent != tt.wantOld {
				t.Fatalf("%d streams opened, the old one carried %d requests; want %d and %d", b.opened, old.sent, tt.wantOpened, tt.wantOld)
			}
		})
	}
}
