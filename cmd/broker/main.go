// Command broker is the LogBroker daemon: it opens the data directory, serves
// the gRPC API and stops gracefully on SIGINT or SIGTERM.
//
// Concurrency: run supervises two goroutines with an errgroup, the gRPC
// server's accept loop and the shutdown sequence, and returns only after both
// have ended and storage is closed. A second signal kills the process at once.
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
