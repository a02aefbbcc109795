// Package client is a small Go client for a LogBroker broker, on top of the
// generated pb package: Dial, a Kafka-compatible key partitioner, a batching
// Producer, a resuming consumer (Client.Consume) and a consumer-group member
// (Client.ConsumeGroup).
//
// Concurrency: a *Client is safe for concurrent use by many goroutines, like
// the grpc.ClientConn it wraps. A *Producer is safe for concurrent use; it
// owns two goroutines per partition, started by NewProducer and stopped by
// Close. Client.Consume runs on the caller's goroutine and calls its handler
// there, one entry at a time, in offset order. Client.ConsumeGroup also calls
// its handler on the caller's goroutine, one entry at a time; it owns one
// goroutine for the group stream and one per assigned partition, and stops
// them all before it returns. Nothing in this package keeps goroutines alive
// after Close returns.
package client
