package client

import "testing"

// Vectors from Kafka's own test of Utils.murmur2:
// apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
// testMurmur2 (values are Java ints).
func TestMurmur2KafkaVectors(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	}
	for _, tt := range tests {
		if got := Murmur2([]byte(tt.in)); got != tt.want {
			t.Errorf("Murmur2(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// Partitions with 1000 partitions, as computed by Kafka's Java partitioner;
// from kafka-python test/test_partitioner.py, test_murmur2_java_compatibility
// ("compare with output from Kafka's org.apache.kafka.clients.producer.Partitioner").
// They cover every tail length (0-3 trailing bytes) and a NUL byte.
func TestPartitionJavaCompatibility(t *testing.T) {
	tests := []struct {
		key  []byte
		want uint32
	}{
		{[]byte(""), 681},
		{[]byte("a"), 524},
		{[]byte("ab"), 434},
		{[]byte("abc"), 107},
		{[]byte("123456789"), 566},
		{[]byte("\x00 "), 742},
	}
	for _, tt := range tests {
		if got := Partition(tt.key, 1000); got != tt.want {
			t.Errorf("Partition(%q, 1000) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestPartitionInRange(t *testing.T) {
	for n := uint32(1); n <= 64; n++ {
		for i := 0; i < 256; i++ {
			key := []byte{byte(i), byte(i * 7), byte(n)}
			if p := Partition(key, n); p >= n {
				t.Fatalf("Partition(%v, %d) = %d, out of range", key, n, p)
			}
		}
	}
}

func BenchmarkMurmur2(b *testing.B) {
	key := []byte("a-little-bit-longer-string")
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		Murmur2(key)
	}
}
