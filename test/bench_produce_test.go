package test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
)

// BenchmarkProduce is the produce path end to end, in process over loopback
// gRPC with real storage: requests of 1,000 records of 100 B to one
// partition, acks leader, from 2 producers with one request in flight each
// (the workload of `lb bench produce --producers 2`). Records/s is b.N
// requests x 1,000 over the time taken.
func BenchmarkProduce(b *testing.B) {
	for _, fsync := range []partition.FsyncMode{partition.FsyncNever, partition.FsyncAlways} {
		b.Run(fmt.Sprintf("fsync=%s", fsync), func(b *testing.B) {
			br := startInproc(b, func(c *partition.Config, _ *server.Options) { c.Fsync = fsync })
			br.createTopic("p", 1)
			c := br.Client()
			recs := make([]*pb.Record, 1000)
			for i := range recs {
				recs[i] = &pb.Record{Value: make([]byte, 100)}
			}
			req := &pb.ProduceRequest{Topic: "p", Records: recs}
			const producers = 2
			b.SetBytes(int64(len(recs) * 100))
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, producers)
			for p := range producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := p; i < b.N; i += producers {
						if _, err := c.Produce(context.Background(), req); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
