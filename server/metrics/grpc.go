package metrics

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

var descRequests = prometheus.NewDesc(prometheus.BuildFQName(namespace, "grpc", "requests_total"),
	"gRPC calls handled, by service, method and status code (a stream counts once, when it ends).",
	[]string{"service", "method", "code"}, nil)

// numCodes is the number of gRPC codes (OK to Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// methodStats counts one method's calls by code. The counters are atomics
// so that a call costs one map load and one add, and the exported series are
// built at scrape time.
type methodStats struct {
	service, method string
	calls           [numCodes]atomic.Uint64
}

func (m *Metrics) method(fullMethod string) *methodStats {
	if v, ok := m.methods.Load(fullMethod); ok {
		return v.(*methodStats)
	}
	svc, name := splitMethod(fullMethod)
	v, _ := m.methods.LoadOrStore(fullMethod, &methodStats{service: svc, method: name})
	return v.(*methodStats)
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

func (m *Metrics) count(fullMethod string, err error) {
	c := int(status.Code(err))
	if c >= numCodes {
		c = int(codes.Unknown)
	}
	m.method(fullMethod).calls[c].Add(1)
}

// UnaryInterceptor counts calls by method and code and times Produce. Put
// it first in the chain so it sees the code that the client gets.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod != pb.BrokerService_Produce_FullMethodName {
			resp, err := handler(ctx, req)
			m.count(info.FullMethod, err)
			return resp, err
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		took := time.Since(start)
		if r, ok := req.(*pb.ProduceRequest); ok && r.GetAcks() == pb.Acks_ACKS_NONE {
			m.produceNone.Observe(took.Seconds())
		} else {
			m.produceLeader.Observe(took.Seconds())
		}
		m.count(info.FullMethod, err)
		return resp, err
	}
}

// StreamInterceptor counts streams by method and the code they ended with.
func (m *Metrics) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		m.count(info.FullMethod, err)
		return err
	}
}

type grpcCollector struct{ m *Metrics }

func (c grpcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descRequests }

func (c grpcCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.methods.Range(func(_, v any) bool {
		ms := v.(*methodStats)
		for code := range numCodes {
			// Only codes that happened: a counter never goes back to 0, so
			// a series, once there, stays.
			if n := ms.calls[code].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n),
					ms.service, ms.method, codes.Code(code).String())
			}
		}
		return true
	})
}
