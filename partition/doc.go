// Package partition is LogBroker's storage above single segments: Log (one
// partition's ordered segments, offsets and retention), the partition actor
// that owns a Log, the core that makes the actor's decisions, and the topic
// Registry.
//
// Concurrency contract:
//   - Log is a plain struct with a single owner and is not safe for concurrent
//     use. Its only owner is the goroutine of the Partition actor that opened it.
//   - core (core.go) is a plain state machine, like etcd raft's RawNode, and is
//     not safe for concurrent use either: the actor goroutine owns it. It starts
//     no goroutines, uses no channels and reads no clock. The actor feeds it
//     requests and timer ends, takes a ready (what to write, whether to sync,
//     what to publish and answer, whom to wake, which timer to arm), carries
//     it out on the Log, and reports the outcome with advance.
//   - Partition is a handle to that actor and is safe for concurrent use: every
//     request is typed and sent over a channel, honours its context, and fails
//     with ErrStopped once the actor has stopped. No mutex guards actor state.
//   - Tail and Stats do not go through the mailbox: they read what the actor
//     last published through atomics (the last commit's records, counters).
//   - The actor never blocks on a client: subscribers are woken with a
//     non-blocking, coalescing signal, and reads are answered with an immutable
//     segment.View that the caller reads outside the actor.
//   - Registry is safe for concurrent use; its topic map is copy-on-write, so
//     lookups on the produce/consume path take no lock.
package partition
