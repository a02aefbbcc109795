// Package client is a small Go client for a LogBroker broker, on top of the
// generated pb package: Dial, a Kafka-compatible key partitioner, a batching
// Producer, a resuming consumer (Client.Consume, or Client.ConsumeEntries
// without an allocation per entry) and a consumer-group member
// (Client.ConsumeGroup). For readers that count bytes or look at a few
// fields, Client.ConsumeBatchesRaw and Client.ConsumeRaw receive messages as
// wire bytes, and Entries and Entry read them in place with no pb.LogEntry.
//
// The Producer sends each partition's requests one at a time over a
// ProduceStream, whose messages cost far less than unary Produce calls, and
// falls back to unary calls against a broker that lacks it.
//
// Concurrency: a *Client is safe for concurrent use by many goroutines, like
// the grpc.ClientConn it wraps. A *Producer is safe for concurrent use; it
// owns two goroutines per partition, started by NewProducer and stopped by
// Close. Client.Consume and Client.ConsumeEntries run on the caller's
// goroutine and call their handler there, one entry at a time, in offset
// order. Client.ConsumeGroup also calls its handler on the caller's
// goroutine, one entry at a time; it owns one goroutine for the group stream
// and one per assigned partition, and stops them all before it returns. A
// *BatchStream or *EntryStream is read by one goroutine; an Entry, Entries
// or HeaderIter is a value over bytes it does not own and is valid only as
// long as those bytes are (a stream's until its next Recv). Nothing in this
// package keeps goroutines alive after Close returns.
package client
