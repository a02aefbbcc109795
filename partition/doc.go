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
//   - Partition is a handle to that actor and is safe for concurrent use.
//     Append, AppendFrame, AppendBatch (and their Async forms), Read, ReadInto, Offsets,
//     Subscribe, Subscription.Close and Sync are typed requests over the
//     actor's channels: they honour their context and fail with ErrStopped
//     once the actor has stopped. Records are validated and encoded on the
//     caller's goroutine before they reach the mailbox. No mutex guards actor
//     state.
//   - Tail and Stats do not go through the mailbox and never wait on the
//     actor: Tail serves a live tail from an immutable copy of the last group
//     commit, which the actor publishes through an atomic pointer once it is
//     durable; Stats reads counters the actor publishes in atomics.
//   - The actor never blocks on a client: subscribers are woken with a
//     non-blocking, coalescing signal, and a read is answered with an
//     immutable segment.View that ReadInto reads on the caller's goroutine.
//   - An Observer is called on actor goroutines and must not block.
//   - Registry is safe for concurrent use; its topic map is copy-on-write, so
//     lookups on the produce/consume path take no lock, while CreateTopic,
//     DeleteTopic and Close are serialised by a mutex. Besides the actors,
//     Open starts one goroutine, the retention ticker, which only nudges each
//     actor to apply retention itself; Close stops it and every actor.
package partition
