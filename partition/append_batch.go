package partition

import (
	"context"
	"fmt"

	"github.com/logbroker/logbroker/actor"
	"github.com/logbroker/logbroker/batch"
)

// AppendBatch stores one RecordBatch v2 as its producer encoded it (a Kafka
// producer's, compressed or not), with no re-encoding: the batch is
// validated here, on the caller's goroutine (batch.Validate: CRC, records,
// offset deltas, each record within MaxRecordBytes), and the actor only
// sets its base offset. A batch that fails gets an error wrapping
// ErrInvalidBatch that says why, and nothing is stored. It takes b
// over: the caller must not touch it again. It returns the offsets of the
// batch's first and last records, once they are in the log (and synced
// when the fsync mode is always).
func (p *Partition) AppendBatch(ctx context.Context, b []byte) (base, last uint64, err error) {
	req, err := p.batchRequest(b)
	if err != nil {
		return 0, 0, err
	}
	req.reply = make(chan appendResult, 1)
	res, err := actor.Ask(ctx, p.loop, p.appendc, req, req.reply)
	if err != nil {
		return 0, 0, p.wrap(err)
	}
	return res.base, res.last, res.err
}

// AppendBatchAsync is AppendBatch without waiting for the write (acks 0).
func (p *Partition) AppendBatchAsync(ctx context.Context, b []byte) error {
	req, err := p.batchRequest(b)
	if err != nil {
		return err
	}
	return p.wrap(actor.Send(ctx, p.loop, p.appendc, req))
}

// batchRequest validates an untrusted batch and makes the actor's message.
func (p *Partition) batchRequest(b []byte) (*appendReq, error) {
	h, err := batch.Validate(b, p.cfg.MaxRecordBytes, p.cfg.segmentOptions().MaxFrameBytes)
	if err != nil {
		return nil, p.wrap(err)
	}
	// The leader epoch is the broker's to set (producers send -1); it is 0
	// until partitions replicate.
	batch.SetLeaderEpoch(b, 0)
	req, err := batchReq(b, h)
	return req, p.wrap(err)
}

// batchReq is the actor's message for the checked batch b, whose header
// is h. A batch with a producer id is an idempotent producer's: the core
// checks its sequence (producer.go). Kafka refuses one without a sequence
// or epoch the same way (INVALID_RECORD).
func batchReq(b []byte, h batch.Header) (*appendReq, error) {
	req := &appendReq{frame: b, count: int(h.NumRecords)}
	if h.ProducerID >= 0 {
		if h.ProducerEpoch < 0 || h.BaseSequence < 0 {
			return nil, fmt.Errorf("%w: producer id %d with epoch %d and base sequence %d", ErrInvalidBatch, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		req.idem = true
		req.prod = producerAppend{id: h.ProducerID, epoch: h.ProducerEpoch, firstSeq: h.BaseSequence, count: h.NumRecords, maxTs: h.MaxTimestamp}
	}
	return req, nil
}
