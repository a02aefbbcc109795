package metrics

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// method finds fullMethod's counters. The map is copy-on-write: a call
// reads it without a lock (a plain map read, cheaper than sync.Map's);
// the first call of a method takes methodsMu and publishes a new map.
func (m *Metrics) method(fullMethod string) *methodStats {
	if ms, ok := (*m.methods.Load())[fullMethod]; ok {
		return ms
	}
	m.methodsMu.Lock()
	defer m.methodsMu.Unlock()
	old := *m.methods.Load()
	if ms, ok := old[fullMethod]; ok {
		return ms
	}
	next := make(map[string]*methodStats, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	svc, name := splitMethod(fullMethod)
	ms := &methodStats{service: svc, method: name}
	next[fullMethod] = ms
	m.methods.Store(&next)
	return ms
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

// ObserveUnary counts a unary call by method and code, and times it when
// it is a Produce. Call it from the server's unary interceptor, after
// panics are turned into errors, with the time the call took (the
// interceptor takes it anyway for its log line).
func (m *Metrics) ObserveUnary(fullMethod string, req any, took time.Duration, err error) {
	if m == nil {
		return
	}
	if fullMethod == pb.BrokerService_Produce_FullMethodName {
		acks := pb.Acks_ACKS_LEADER
		if r, ok := req.(interface{ GetAcks() pb.Acks }); ok {
			acks = r.GetAcks()
		}
		m.ObserveProduce(acks, took)
	}
	m.count(fullMethod, err)
}

// ObserveProduce records one Produce request's time from arrival to answer,
// unary or a message of ProduceStream.
func (m *Metrics) ObserveProduce(acks pb.Acks, took time.Duration) {
	if m == nil {
		return
	}
	if acks == pb.Acks_ACKS_NONE {
		m.produceNone.Observe(took.Seconds())
	} else {
		m.produceLeader.Observe(took.Seconds())
	}
}

// ObserveStream counts a stream by method and the code it ended with.
func (m *Metrics) ObserveStream(fullMethod string, err error) {
	if m == nil {
		return
	}
	m.count(fullMethod, err)
}

type grpcCollector struct{ m *Metrics }

func (c grpcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descRequests }

func (c grpcCollector) Collect(ch chan<- prometheus.Metric) {
	for _, ms := range *c.m.methods.Load() {
		for code := range numCodes {
			// Only codes that happened: a counter never goes back to 0, so
			// a series, once there, stays.
			if n := ms.calls[code].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n),
					ms.service, ms.method, codes.Code(code).String())
			}
		}
	}
}
