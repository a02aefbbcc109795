package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var partLabels = []string{"topic", "partition"}

func partDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "partition", name), help, partLabels, nil)
}

var (
	descRecordsAppended = partDesc("appended_records_total", "Records appended to the partition since the broker started.")
	descBytesAppended   = partDesc("appended_bytes_total", "Framed bytes written to the partition's log since the broker started.")
	descNextOffset      = partDesc("next_offset", "Offset the next appended record will get (the end of the readable log).")
	descLogStart        = partDesc("log_start_offset", "First offset still stored (raised by retention).")
	descSegments        = partDesc("segments", "Segment files of the partition.")
	descSize            = partDesc("size_bytes", "Bytes of the partition's segments on disk.")
)

// storageCollector exports partition.Stats, read at scrape time: appends
// pay nothing for these metrics beyond the atomics storage keeps anyway.
type storageCollector struct{ m *Metrics }

func (c storageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecordsAppended, descBytesAppended, descNextOffset, descLogStart, descSegments, descSize} {
		ch <- d
	}
}

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	stats, _ := c.m.stats()
	for _, s := range stats {
		t, p := s.Topic, strconv.FormatUint(uint64(s.Partition), 10)
		ch <- prometheus.MustNewConstMetric(descRecordsAppended, prometheus.CounterValue, float64(s.RecordsAppended), t, p)
		ch <- prometheus.MustNewConstMetric(descBytesAppended, prometheus.CounterValue, float64(s.BytesAppended), t, p)
		ch <- prometheus.MustNewConstMetric(descNextOffset, prometheus.GaugeValue, float64(s.Next), t, p)
		ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(s.LogStart), t, p)
		ch <- prometheus.MustNewConstMetric(descSegments, prometheus.GaugeValue, float64(s.Segments), t, p)
		ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(s.SizeBytes), t, p)
	}
}
