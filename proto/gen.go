// Package proto holds the .proto sources of LogBroker's API and the directive
// that generates package pb from them. It has no Go logic and no goroutines.
//
// Regenerate with: go generate ./proto
package proto

//go:generate go tool -modfile=tools.mod buf generate
