// Package partition is LogBroker's storage above single segments: Log (one
// partition's ordered segments, offsets and retention), the partition actor
// that owns a Log, and the topic Registry.
//
// Concurrency contract:
//   - Log is a plain struct with a single owner and is not safe for concurrent
//     use. Its only owner is the goroutine of the Partition actor that opened it.
//   - Partition is a handle to that actor and is safe for concurrent use: every
//     method is a typed request over a channel, honours its context, and fails
//     with ErrStopped once the actor has stopped. No mutex guards actor state.
//   - The actor never blocks on a client: subscribers are woken with a
//     non-blocking, coalescing signal, and reads are answered with an immutable
//     segment.View that the caller reads outside the actor.
//   - Registry is safe for concurrent use; its topic map is copy-on-write, so
//     lookups on the produce/consume path take no lock.
package partition
