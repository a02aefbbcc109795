// Package kafka is LogBroker's second front end: the Apache Kafka wire
// protocol, beside the gRPC one in server/, over the same partitions. Kafka
// clients (kcat, franz-go, the Java client, librdkafka) produce and fetch
// the RecordBatch v2 bytes that storage keeps, unchanged.
//
// Requests and responses are decoded and encoded by franz-go's kmsg; this
// package holds no protocol codec of its own. conn.go frames a connection;
// versions.go is the one table of the APIs and versions served; errors.go
// is the one mapping of storage errors to Kafka error codes; each API has
// its file, named by its key as Kafka numbers them (00_produce.go, ...).
//
// Concurrency contract:
//   - Server is safe for concurrent use. Serve runs the accept loop; every
//     connection has one goroutine, started by Serve and waited for by Stop,
//     which reads a request, handles it and writes its response before it
//     reads the next. So responses leave in request order, as Kafka's
//     per-connection ordering requires, and a client's pipelined requests
//     queue in the socket meanwhile.
//   - Handlers run on their connection's goroutine and reach storage only
//     through the Registry and Partition interfaces (storage.go), as the
//     gRPC front end does: appends and reads go to the partition actors,
//     which never wait on a client. A Fetch that waits for data waits on its
//     partitions' coalescing Subscription wake-ups, never by polling.
//   - Input is untrusted: a frame that cannot be parsed, an API key that is
//     not served or an unsupported version closes that connection only, and
//     nothing a client sends reaches storage but through AppendBatch, which
//     validates every batch before it is stored.
package kafka
