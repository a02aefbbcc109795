package server

import (
	"errors"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/logbroker/logbroker/pb"
)

// errSlowPath sends a request the fast decoder does not fully understand to
// the standard decoder, which then decides (and words any error) as usual.
var errSlowPath = errors.New("server: produce request needs the standard decoder")

// unmarshalProduce decodes a ProduceRequest from buf, which the caller owns
// and which the records then alias. The standard decoder allocates and copies
// every record and field through reflection, a third of the broker's CPU on
// the produce path; this walks the wire once and makes a handful of
// allocations per request. Anything unusual (unknown fields, invalid UTF-8,
// repeated scalars) returns errSlowPath, so the result is always exactly what
// proto.Unmarshal would give.
func unmarshalProduce(buf []byte, m *pb.ProduceRequest) error {
	var topic []byte
	var part, acks uint64
	var seen [5]bool
	n := 0
	for b := buf; len(b) > 0; {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errSlowPath
		}
		b = b[l:]
		switch {
		case num == 1 && typ == protowire.BytesType && !seen[1]:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 || !utf8.Valid(v) {
				return errSlowPath
			}
			topic, seen[1], b = v, true, b[l:]
		case num == 2 && typ == protowire.VarintType && !seen[2]:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errSlowPath
			}
			part, seen[2], b = v, true, b[l:]
		case num == 3 && typ == protowire.BytesType:
			_, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return errSlowPath
			}
			n++
			b = b[l:]
		case num == 4 && typ == protowire.VarintType && !seen[4]:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errSlowPath
			}
			acks, seen[4], b = v, true, b[l:]
		default:
			return errSlowPath
		}
	}
	if part > 1<<32-1 || acks > 1<<31-1 {
		return errSlowPath // proto truncates; let it
	}
	m.Topic = string(topic)
	m.Partition = uint32(part)
	m.Acks = pb.Acks(acks)
	if n == 0 {
		return nil
	}
	recs := make([]pb.Record, n)
	m.Records = make([]*pb.Record, n)
	i := 0
	for b := buf; len(b) > 0; {
		num, _, l := protowire.ConsumeTag(b)
		b = b[l:]
		switch num {
		case 2, 4:
			_, l = protowire.ConsumeVarint(b)
			b = b[l:]
		case 1:
			_, l = protowire.ConsumeBytes(b)
			b = b[l:]
		case 3:
			v, l := protowire.ConsumeBytes(b)
			b = b[l:]
			if err := unmarshalRecord(v, &recs[i]); err != nil {
				return err
			}
			m.Records[i] = &recs[i]
			i++
		}
	}
	return nil
}

func unmarshalRecord(b []byte, r *pb.Record) error {
	var seen [5]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errSlowPath
		}
		b = b[l:]
		switch {
		case (num == 1 || num == 2 || num == 3) && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return errSlowPath
			}
			b = b[l:]
			switch num {
			case 1:
				if seen[1] {
					return errSlowPath
				}
				r.Key, seen[1] = v, true
			case 2:
				if seen[2] {
					return errSlowPath
				}
				r.Value, seen[2] = v, true
			case 3:
				h, err := unmarshalHeader(v)
				if err != nil {
					return err
				}
				r.Headers = append(r.Headers, h)
			}
		case num == 4 && typ == protowire.VarintType && !seen[4]:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errSlowPath
			}
			r.TimestampMs, seen[4], b = int64(v), true, b[l:]
		default:
			return errSlowPath
		}
	}
	return nil
}

func unmarshalHeader(b []byte) (*pb.Header, error) {
	h := &pb.Header{}
	var seen [3]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.BytesType || num < 1 || num > 2 || seen[num] {
			return nil, errSlowPath
		}
		b = b[l:]
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return nil, errSlowPath
		}
		b = b[l:]
		seen[num] = true
		if num == 1 {
			if !utf8.Valid(v) {
				return nil, errSlowPath
			}
			h.Key = string(v)
		} else {
			h.Value = v
		}
	}
	return h, nil
}
