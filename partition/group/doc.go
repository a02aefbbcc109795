// Package group is LogBroker's consumer-group coordinator: membership,
// partition assignment, generations (fencing) and durable committed offsets.
//
// Concurrency contract:
//   - Each group is owned by one coordinator actor goroutine (the loop in
//     actor.go). Its members, generation, assignment and offsets are touched by
//     that goroutine only; no mutex guards them. Requests reach it as typed
//     messages with caller-made reply channels (package actor).
//   - Coordinator is safe for concurrent use. Its mutex guards only the map from
//     group name to actor, never a group's state.
//   - The actor never blocks on a member: a new assignment is stored in the
//     Member (an atomic pointer) and announced with a coalescing, non-blocking
//     signal; the member's own goroutine (a gRPC stream) reads it and sends.
//   - A request is answered only after what it changed is on disk (one
//     write-sync-rename-sync per drained mailbox batch: group commit).
//   - Goroutines: one per group, started when the group is first loaded or
//     used, stopped by Coordinator.Close, which waits for them.
//
// On disk: <data-dir>/__groups/<group>.offsets, one file per group, replaced
// atomically on every change (see store.go for the format). The partition
// registry ignores the directory: its name does not split as <topic>-<n>.
package group
