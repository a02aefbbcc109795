// Command broker is the LogBroker daemon. It listens first (gRPC, with
// health NOT_SERVING, and --metrics-addr when set), then opens the data
// directory (crash recovery of the partitions, then the consumer groups),
// turns health SERVING and serves the gRPC API until SIGINT or SIGTERM. It
// then stops gracefully: the server drains its calls and streams, storage
// syncs and writes its clean-shutdown marker, and the metrics listener
// closes last.
//
// Concurrency: run supervises with an errgroup the gRPC server, the metrics
// server and, once storage is open, the shutdown sequence, and returns after
// all of them have ended and storage is closed. Storage opens on a goroutine
// of its own so that a signal during recovery is answered at once: run then
// stops the listeners and returns without waiting for recovery, which runs
// on until the process exits and closes what it opened if it finishes
// first. After the first signal the default action is restored, so a second
// one kills the process at once.
//
// main holds only wiring; run and parseFlags carry the logic tests need.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default action so a second one
	// ends a shutdown that hangs.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: %v\n", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
