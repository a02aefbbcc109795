// Package server is LogBroker's gRPC front end: it turns pb requests into calls
// on the storage layer, storage errors into status codes, and runs the Consume
// stream loops. It touches no files; storage is reached only through the small
// Registry and Partition interfaces declared in storage.go.
//
// Concurrency: every RPC runs on its own gRPC goroutine, and a Consume stream's
// goroutine is the only one that sends on that stream. Storage never waits on a
// client: a live-tail stream waits on its Subscription's coalescing wake-up and
// then comes back to Read. Server starts one goroutine of its own, in Stop; it
// ends when the last handler returns.
package server
