// Package client is a small Go client for a LogBroker broker, on top of the
// generated pb package: Dial, a Kafka-compatible key partitioner, a batching
// Producer and a resuming consumer (Client.Consume).
//
// Concurrency: a *Client is safe for concurrent use by many goroutines, like
// the grpc.ClientConn it wraps. A *Producer is safe for concurrent use; it
// owns two goroutines per partition, started by NewProducer and stopped by
// Close. Client.Consume runs on the caller's goroutine and calls its handler
// there, one entry at a time, in offset order. Nothing in this package keeps
// goroutines alive after Close returns.
package client
