package client

// murmur2Seed is the seed Kafka's Utils.murmur2 starts from.
const murmur2Seed uint32 = 0x9747b28c

// Murmur2 is Kafka's Utils.murmur2: 32-bit MurmurHash2 with seed 0x9747b28c,
// reading the input as little-endian 32-bit words. It returns the Java int
// bit pattern, so the result compares equal to Kafka's for every input.
func Murmur2(data []byte) int32 {
	const (
		m = 0x5bd1e995
		r = 24
	)
	n := len(data)
	h := murmur2Seed ^ uint32(n)
	// Java's >>> on int is Go's >> on uint32; multiplication wraps the same.
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch n - i {
	case 3:
		h ^= uint32(data[i+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[i+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[i])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// Partition maps key to one of n partitions exactly as Kafka's default Java
// partitioner does for keyed records: (murmur2(key) & 0x7fffffff) % n. So a
// key lands on the partition a Kafka producer would choose. n must be > 0.
func Partition(key []byte, n uint32) uint32 {
	return (uint32(Murmur2(key)) & 0x7fffffff) % n
}
