package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId v0-4, for idempotent producers (KIP-98) without
// transactions. A producer with no transactional id gets a new producer id
// at epoch 0, from blocks the storage reserves durably, so ids never repeat
// across restarts. v3+ may name the id and epoch the producer holds
// (KIP-360, a producer resetting its sequences): it gets the same id at the
// next epoch, which fences the older epoch in every partition.
//
// A transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which is
// what Kafka answers a producer that may not use that transactional id: it
// is fatal in the clients (the Java client's initTransactions throws
// TransactionalIdAuthorizationException; franz-go returns the kerr error),
// so a transactional producer stops at once with a clear cause, rather
// than retrying a coordinator error until it times out.

func (s *Server) handleInitProducerID(_ context.Context, c *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	id, epoch := int64(-1), int16(-1)
	if req.Version >= 3 {
		id, epoch = req.ProducerID, req.ProducerEpoch
	}
	id, epoch, err := s.opts.Registry.InitProducerID(id, epoch)
	if err != nil {
		c.logger.Error().Err(err).Msg("no producer id")
		resp.ErrorCode = kerr.KafkaStorageError.Code
		if errorCode(err) == kerr.NotLeaderForPartition.Code {
			// A broker stopping: the client retries elsewhere or later.
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp, nil
}
