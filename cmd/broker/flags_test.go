package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		addr: "127.0.0.1:9092", dataDir: "./data", segmentBytes: 64 << 20,
		fsync: fsyncFlag(partition.FsyncAlways), fsyncInterval: 100 * time.Millisecond,
		maxRecordBytes: 1 << 20, maxPartitions: 1024, logLevel: levelFlag(zerolog.InfoLevel),
		logFormat: "console", shutdownTimeout: 10 * time.Second,
		kafkaAddr:       "127.0.0.1:9093",
		groupMinSession: 6 * time.Second, groupMaxSession: 30 * time.Minute, groupInitialDelay: 3 * time.Second,
	}
	if c != want {
		t.Errorf("defaults = %+v\nwant       %+v", c, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(c config) bool
	}{
		{"flags", []string{"--addr", "127.0.0.1:0", "--data-dir=/x", "--segment-bytes", "4096", "--fsync", "interval",
			"--fsync-interval", "5ms", "--retention-bytes", "10", "--retention-ms", "60000", "--max-record-bytes", "99",
			"--max-partitions", "7", "--log-level", "debug", "--log-format", "json", "--shutdown-timeout", "3s"},
			nil, func(c config) bool {
				pc := c.partitionConfig(zerolog.Nop())
				return c.addr == "127.0.0.1:0" && c.dataDir == "/x" && pc.SegmentBytes == 4096 && pc.Fsync == partition.FsyncInterval &&
					pc.FsyncInterval == 5*time.Millisecond && pc.RetentionBytes == 10 && pc.RetentionAge == time.Minute &&
					pc.MaxRecordBytes == 99 && pc.MaxPartitions == 7 && zerolog.Level(c.logLevel) == zerolog.DebugLevel &&
					c.logFormat == "json" && c.shutdownTimeout == 3*time.Second
			}},
		{"env", nil, map[string]string{"LOGBROKER_ADDR": "127.0.0.1:1", "LOGBROKER_DATA_DIR": "/e", "LOGBROKER_FSYNC": "never",
			"LOGBROKER_FSYNC_INTERVAL": "1s", "LOGBROKER_SEGMENT_BYTES": "2048", "LOGBROKER_RETENTION_BYTES": "5",
			"LOGBROKER_RETENTION_MS": "1", "LOGBROKER_MAX_RECORD_BYTES": "3", "LOGBROKER_MAX_PARTITIONS": "4",
			"LOGBROKER_LOG_LEVEL": "warn", "LOGBROKER_LOG_FORMAT": "json", "LOGBROKER_SHUTDOWN_TIMEOUT": "1m"},
			func(c config) bool {
				return c.addr == "127.0.0.1:1" && c.dataDir == "/e" && partition.FsyncMode(c.fsync) == partition.FsyncNever &&
					c.fsyncInterval == time.Second && c.segmentBytes == 2048 && c.retentionBytes == 5 && c.retentionMs == 1 &&
					c.maxRecordBytes == 3 && c.maxPartitions == 4 && zerolog.Level(c.logLevel) == zerolog.WarnLevel &&
					c.logFormat == "json" && c.shutdownTimeout == time.Minute
			}},
		{"flag wins over env", []string{"--data-dir", "/flag", "--fsync=always"},
			map[string]string{"LOGBROKER_DATA_DIR": "/env", "LOGBROKER_FSYNC": "bogus"},
			func(c config) bool {
				return c.dataDir == "/flag" && partition.FsyncMode(c.fsync) == partition.FsyncAlways
			}},
		{"version ignores env", nil, map[string]string{"LOGBROKER_VERSION": "v9.9.9"},
			func(c config) bool { return !c.version }},
		{"version flag", []string{"--version"}, nil, func(c config) bool { return c.version }},
		{"max open files", []string{"--max-open-files", "77"}, nil,
			func(c config) bool { return c.partitionConfig(zerolog.Nop()).MaxOpenFiles == 77 }},
		{"max open files env", nil, map[string]string{"LOGBROKER_MAX_OPEN_FILES": "5000"},
			func(c config) bool { return c.partitionConfig(zerolog.Nop()).MaxOpenFiles == 5000 }},
		{"kafka flags", []string{"--kafka-addr", "0.0.0.0:19093", "--kafka-advertise-addr", "broker1.example:19093", "--kafka-auto-create-topics"}, nil,
			func(c config) bool {
				return c.kafkaAddr == "0.0.0.0:19093" && c.kafkaAdvertise == "broker1.example:19093" && c.kafkaAutoCreate
			}},
		{"kafka env", nil, map[string]string{"LOGBROKER_KAFKA_ADDR": "127.0.0.1:1", "LOGBROKER_KAFKA_ADVERTISE_ADDR": "h:2",
			"LOGBROKER_KAFKA_AUTO_CREATE_TOPICS": "true"},
			func(c config) bool {
				return c.kafkaAddr == "127.0.0.1:1" && c.kafkaAdvertise == "h:2" && c.kafkaAutoCreate
			}},
		{"kafka off", []string{"--kafka-addr="}, nil, func(c config) bool { return c.kafkaAddr == "" }},
		{"max open files auto", nil, nil, func(c config) bool {
			return c.partitionConfig(zerolog.Nop()).MaxOpenFiles == autoOpenFiles(nofileLimit())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, env(tt.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantMsg string
	}{
		{"unknown flag", []string{"--nope"}, nil, "-nope"},
		{"bad fsync", []string{"--fsync", "sometimes"}, nil, `"sometimes"`},
		{"bad log format", []string{"--log-format", "xml"}, nil, `"xml"`},
		{"bad log level", []string{"--log-level", "loud"}, nil, `"loud"`},
		{"empty log level", []string{"--log-level="}, nil, "-log-level"},
		{"bad number", []string{"--segment-bytes", "big"}, nil, `"big"`},
		{"bad duration", []string{"--shutdown-timeout", "soon"}, nil, `"soon"`},
		{"positional", []string{"serve"}, nil, `"serve"`},
		{"bad env", nil, map[string]string{"LOGBROKER_MAX_PARTITIONS": "many"}, `"many" for LOGBROKER_MAX_PARTITIONS`},
		{"zero segment", []string{"--segment-bytes", "0"}, nil, "--segment-bytes 0"},
		{"negative retention", []string{"--retention-bytes", "-1"}, nil, "--retention-bytes -1"},
		{"negative retention ms", []string{"--retention-ms", "-5"}, nil, "--retention-ms -5"},
		{"zero max record", []string{"--max-record-bytes", "0"}, nil, "--max-record-bytes 0"},
		{"zero partitions", []string{"--max-partitions", "0"}, nil, "--max-partitions 0"},
		{"too many partitions", []string{"--max-partitions", "4294967296"}, nil, "--max-partitions 4294967296"},
		{"zero fsync interval", []string{"--fsync-interval", "0s"}, nil, "--fsync-interval 0s"},
		{"zero shutdown", []string{"--shutdown-timeout", "0s"}, nil, "--shutdown-timeout 0s"},
		{"negative max open files", []string{"--max-open-files", "-1"}, nil, "--max-open-files -1"},
		{"empty addr", []string{"--addr", ""}, nil, "--addr"},
		{"addr without port", []string{"--addr", "127.0.0.1"}, nil, "--addr"},
		{"addr with a bad port", []string{"--addr", "127.0.0.1:http2"}, nil, "--addr"},
		{"metrics addr with a port past 65535", []string{"--metrics-addr", "127.0.0.1:70000"}, nil, "--metrics-addr"},
		{"segment under 1 KiB", []string{"--segment-bytes", "100"}, nil, "--segment-bytes 100"},
		{"segment over 1 GiB", []string{"--segment-bytes", "2147483648"}, nil, "--segment-bytes 2147483648"},
		{"huge max record", []string{"--max-record-bytes", "9223372036854775807"}, nil, "--max-record-bytes 9223372036854775807"},
		{"log level off", []string{"--log-level", "disabled"}, nil, `"disabled"`},
		{"numeric log level", []string{"--log-level", "100"}, nil, `"100"`},
		{"kafka addr without port", []string{"--kafka-addr", "127.0.0.1"}, nil, "--kafka-addr"},
		{"kafka wildcard without advertise", []string{"--kafka-addr", "0.0.0.0:9093"}, nil, "--kafka-advertise-addr"},
		{"kafka empty host without advertise", []string{"--kafka-addr", ":9093"}, nil, "--kafka-advertise-addr"},
		{"kafka advertise without port", []string{"--kafka-advertise-addr", "h"}, nil, "--kafka-advertise-addr"},
		{"kafka advertise port 0", []string{"--kafka-advertise-addr", "h:0"}, nil, "--kafka-advertise-addr"},
		{"bad kafka auto create", nil, map[string]string{"LOGBROKER_KAFKA_AUTO_CREATE_TOPICS": "maybe"}, "LOGBROKER_KAFKA_AUTO_CREATE_TOPICS"},
		{"empty data dir", nil, map[string]string{"LOGBROKER_DATA_DIR": ""}, "--data-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, env(tt.env), nil)
			if !errors.As(err, new(usageError)) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || strings.Contains(msg, "\n") {
				t.Errorf("err = %q, want one line naming %q", msg, tt.wantMsg)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, err := parseFlags([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"LOGBROKER_DATA_DIR", "-data-dir", "-fsync", "-shutdown-timeout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

// TestAutoOpenFiles: with --max-open-files 0 the segment file cache takes
// half the soft descriptor limit, at most the storage default.
func TestAutoOpenFiles(t *testing.T) {
	tests := []struct {
		soft uint64
		want int
	}{
		{0, partition.DefaultMaxOpenFiles}, // unknown
		{1, 1},
		{2, 1},
		{512, 256},
		{2048, partition.DefaultMaxOpenFiles},
		{1 << 20, partition.DefaultMaxOpenFiles},
		{^uint64(0), partition.DefaultMaxOpenFiles}, // RLIM_INFINITY
	}
	for _, tt := range tests {
		if got := autoOpenFiles(tt.soft); got != tt.want {
			t.Errorf("autoOpenFiles(%d) = %d, want %d", tt.soft, got, tt.want)
		}
	}
}
