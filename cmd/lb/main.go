// Command lb is LogBroker's command-line client: it creates, lists,
// describes and deletes topics, produces records, consumes (tails) a
// partition and benchmarks a broker (lb bench).
//
// Concurrency: each command runs on the goroutine that called run; the
// client package owns any goroutine a command needs (the producer's) and
// stops it before run returns, except lb bench, which starts its own
// producers, consumers, pacer and progress printer and waits for every one
// of them before it returns. SIGINT and SIGTERM cancel run's context.
//
// Adding a command (lb bench, lb groups, ...): write it in its own file as a
// `func(ctx context.Context, e *env, args []string) error`, parse its flags
// with e.parse, reach the broker with e.dial, and add one line to
// commands() in app.go.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C the default action returns: a second one kills
	// lb even if something still waits.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
