// Package test holds LogBroker's black-box tests: they talk to the broker only
// over real gRPC on loopback, either in-process (partition.Open + server.New)
// or as a child process. Tests may run in parallel with each other; each one
// owns its broker and data directory.
package test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
