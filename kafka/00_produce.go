package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/batch"
)

// Produce v0-9 advertised, v3+ stored: each partition's records are
// RecordBatch v2 (magic 2) batches, stored as sent (compression kept) with
// AppendBatch, which validates each before the actor sets its base offset.
// v0-2 carry older message formats and get UNSUPPORTED_FOR_MESSAGE_FORMAT.
//
// A partition's records may hold several batches (Kafka takes exactly one
// from v3; some clients send more): they are split at their headers, all
// headers are checked before any is stored, and each is appended in order.
// A batch that then fails validation is reported for the partition; the
// batches before it stay stored.
//
// acks 1 and -1 answer once the batches are in the log (and synced with
// --fsync always): on one broker "all in-sync replicas" is the leader, so
// NOT_ENOUGH_REPLICAS never comes. acks 0 gets no response at all; what
// fails then is logged.
//
// Idempotent producers' batches (producer id set) are checked by the
// partition against the producer's last batches: a retried batch is
// answered with the base offset it was stored at and not stored again; a
// gap gets OUT_OF_ORDER_SEQUENCE_NUMBER and an older epoch
// INVALID_PRODUCER_EPOCH, as from Kafka. Transactional produce (a
// transactional id, or batches with the transactional attribute) is refused
// with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as InitProducerId refuses a
// transactional id (22_init_producer_id.go).

func (s *Server) handleProduce(ctx context.Context, c *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			base, logStart, err := s.producePartition(ctx, req, rt.Topic, rp)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errorMessage(err)
				}
				if req.Acks == 0 {
					c.logger.Debug().Err(err).Str("topic", rt.Topic).Int32("partition", rp.Partition).Msg("acks=0 produce failed")
				}
			} else {
				sp.BaseOffset, sp.LogStartOffset = base, logStart
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		return nil, nil
	}
	return resp, nil
}

// producePartition stores one partition's records and returns the base
// offset of its first batch and the partition's log start offset.
func (s *Server) producePartition(ctx context.Context, req *kmsg.ProduceRequest, topic string, rp kmsg.ProduceRequestTopicPartition) (base, logStart int64, err error) {
	switch {
	case req.Version < 3:
		return 0, 0, refuse(kerr.UnsupportedForMessageFormat, "produce v%d carries message format v0/v1; only RecordBatch v2 (produce v3+) is stored", req.Version)
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		return 0, 0, refuse(kerr.InvalidRequiredAcks, "acks %d; want -1, 0 or 1", req.Acks)
	case req.TransactionID != nil:
		return 0, 0, refuse(kerr.TransactionalIDAuthorizationFailed, "transactions are not supported")
	case rp.Partition < 0:
		return 0, 0, refuse(kerr.UnknownTopicOrPartition, "partition %d", rp.Partition)
	}
	p, err := s.opts.Registry.Partition(topic, uint32(rp.Partition))
	if err != nil {
		return 0, 0, err
	}
	batches, err := splitBatches(rp.Records)
	if err != nil {
		return 0, 0, err
	}
	for i, b := range batches {
		if req.Acks == 0 {
			if err := p.AppendBatchAsync(ctx, b); err != nil {
				return 0, 0, err
			}
			continue
		}
		first, _, err := p.AppendBatch(ctx, b)
		if err != nil {
			return 0, 0, err
		}
		if i == 0 {
			base = int64(first)
		}
	}
	return base, int64(p.Stats().LogStart), nil
}

// splitBatches cuts records into its batches at their headers, checking
// each header (magic 2, lengths, counts) and that the batches fill records
// exactly; CRCs and records are AppendBatch's to check.
func splitBatches(records []byte) ([][]byte, error) {
	if len(records) == 0 {
		return nil, refuse(kerr.InvalidRecord, "no record batch")
	}
	var out [][]byte
	for len(records) > 0 {
		if len(records) > 16 && records[16] != batch.Magic {
			return nil, refuse(kerr.UnsupportedForMessageFormat, "batch of magic %d; only RecordBatch v2 (magic 2) is stored", int8(records[16]))
		}
		h, err := batch.ParseHeader(records, len(records))
		if err != nil {
			return nil, refuse(kerr.CorruptMessage, "batch %d: %v", len(out), err)
		}
		if h.Transactional() || h.Control() {
			return nil, refuse(kerr.TransactionalIDAuthorizationFailed, "batch %d is transactional: transactions are not supported", len(out))
		}
		n := int(h.Size())
		out = append(out, records[:n:n])
		records = records[n:]
	}
	return out, nil
}
