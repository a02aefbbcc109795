package test

// Real Kafka clients against the broker binary's Kafka listener, each run
// as a subprocess: kcat (librdkafka, Debian's package), Apache Kafka's own
// tools on the Java client (Maven Central jars fetched by
// test/kafkaclients/pom.xml), and kafka-python (PyPI). .ci/run installs all
// three; outside CI a test whose tool is missing skips and says how to get
// it, and under CI=true it fails (skipOrFailInCI), so that CI never goes
// green with a client untested.
//
// The Java producers run as the Java client's defaults have them, with
// idempotence on; consumer groups run through ConsumerPerformance,
// VerifiableConsumer and kcat -G.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// toolWait bounds one run of a client tool: a JVM start and a small run
// take seconds; the bound is for a shared, loaded machine.
const toolWait = 3 * time.Minute

// needTool finds a program on PATH, or skips (fails in CI) naming the
// package that has it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFailInCI(t, "%s not found (%s; .ci/run installs it): %v", name, pkg, err)
	}
	return p
}

// runTool runs a client tool to its end, with stdin, and returns its
// stdout; a non-zero exit fails the test with both outputs.
func runTool(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	out, errOut, err := tryTool(t, stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// tryTool is runTool returning the error.
func tryTool(t *testing.T, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("no exit within %s: %w", toolWait, err)
	}
	return o.String(), e.String(), err
}

// startKafkaProc starts the broker binary and returns it and a franz-go
// client on its Kafka listener, for setting up and checking.
func startKafkaProc(t *testing.T) (*ProcBroker, *kgo.Client) {
	t.Helper()
	b := StartProcBroker(t, ProcOptions{Args: []string{"--fsync=never"}})
	if b.KafkaAddr() == "" {
		t.Fatal("the broker's start line names no kafka_addr")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return b, cl
}

func createKafkaTopic(t *testing.T, cl *kgo.Client, name string, partitions int32) {
	t.Helper()
	ctx := faultCtx(t, procWait)
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, name); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// readAll consumes a partition from the start to its end with franz-go.
func readAll(t *testing.T, addr, topic string, partition int32) []*kgo.Record {
	t.Helper()
	ctx := faultCtx(t, procWait)
	adm, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, partition)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for int64(len(out)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s/%d: %d of %d records: %v", topic, partition, len(out), end.Offset, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("read %s/%d: %v", topic, partition, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// --- kcat ---

// kcatLine is one record as kcat prints it with kcatFormat.
const kcatFormat = `%o|%k|%s|%h\n`

// TestKcat: kcat -L lists the broker and topics; kcat -P with keys (-K:),
// headers (-H) and each codec (-z) stores batches that franz-go reads
// back compressed as asked; kcat -C from the beginning and from an offset
// (-o), stopping at the end (-e), prints exactly what was produced.
func TestKcat(t *testing.T) {
	kcat := needTool(t, "kcat", "Debian package kcat")
	b, cl := startKafkaProc(t)
	addr := b.KafkaAddr()
	createKafkaTopic(t, cl, "kc", 2)

	var meta struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(runTool(t, "", kcat, "-b", addr, "-L", "-J")), &meta); err != nil {
		t.Fatalf("kcat -L -J: %v", err)
	}
	if len(meta.Brokers) != 1 || meta.Brokers[0].ID != 1 || meta.Brokers[0].Name != addr ||
		len(meta.Topics) != 1 || meta.Topics[0].Topic != "kc" || len(meta.Topics[0].Partitions) != 2 || meta.Topics[0].Partitions[1].Leader != 1 {
		t.Fatalf("kcat -L = %+v; want broker 1 at %s and topic kc with 2 partitions led by 1", meta, addr)
	}

	codecs := []struct {
		name string
		want kgo.CompressionCodecType
	}{
		{"none", kgo.CodecNone}, {"gzip", kgo.CodecGzip}, {"snappy", kgo.CodecSnappy}, {"lz4", kgo.CodecLz4}, {"zstd", kgo.CodecZstd},
	}
	var want []string // "offset|key|value|headers", as kcat prints them
	for i, c := range codecs {
		var in strings.Builder
		for j := range 20 {
			n := i*20 + j
			key, value := fmt.Sprintf("key-%d", n), fmt.Sprintf("%s-value-%d-%s", c.name, n, strings.Repeat("x", n))
			fmt.Fprintf(&in, "%s:%s\n", key, value)
			want = append(want, fmt.Sprintf("%d|%s|%s|codec=%s,n=%d", n, key, value, c.name, i))
		}
		// linger.ms lets the 20 lines share batches, which librdkafka
		// then compresses (it sends a batch that would not shrink as is).
		runTool(t, in.String(), kcat, "-b", addr, "-P", "-t", "kc", "-p", "1", "-K:", "-z", c.name,
			"-H", "codec="+c.name, "-H", fmt.Sprintf("n=%d", i), "-X", "linger.ms=100")
	}

	// Stored as the producer compressed it. (librdkafka compresses with
	// lz4 only on a broker that serves FindCoordinator: its LZ4 feature
	// test, from Kafka 0.8.2, asks for that API.)
	recs := readAll(t, addr, "kc", 1)
	if len(recs) != len(want) {
		t.Fatalf("franz-go read %d records, kcat produced %d", len(recs), len(want))
	}
	for i, r := range recs {
		if c := codecs[i/20]; r.Attrs.CompressionType() != uint8(c.want) {
			t.Errorf("record %d (kcat -z %s): stored with codec %d, want %d", i, c.name, r.Attrs.CompressionType(), c.want)
		}
	}

	consume := func(args ...string) []string {
		out := runTool(t, "", kcat, append([]string{"-b", addr, "-C", "-t", "kc", "-p", "1", "-e", "-q", "-f", kcatFormat}, args...)...)
		return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	}
	if got := consume("-o", "beginning"); !slices.Equal(got, want) {
		t.Errorf("kcat -C -o beginning: %d lines, want %d; first difference %s", len(got), len(want), firstDiff(got, want))
	}
	// Offset 47 is inside the gzip batch: kcat skips what is below it.
	if got := consume("-o", "47"); !slices.Equal(got, want[47:]) {
		t.Errorf("kcat -C -o 47: %d lines, want %d; first difference %s", len(got), len(want)-47, firstDiff(got, want[47:]))
	}
	// The other partition is empty: -e stops at once.
	if out := runTool(t, "", kcat, "-b", addr, "-C", "-t", "kc", "-p", "0", "-o", "beginning", "-e", "-q"); out != "" {
		t.Errorf("kcat -C of an empty partition printed %q", out)
	}
	// As a group member: kcat -G joins, is assigned both partitions, reads
	// them to their ends and commits.
	out := runTool(t, "", kcat, "-b", addr, "-G", "kcg", "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", kcatFormat, "kc")
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("kcat -G: %d lines, want %d; first difference %s", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: got %q, want %q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// --- Apache Kafka's tools on the Java client ---

// kafkaToolsClasspath is the classpath of the jars test/kafkaclients/pom.xml
// fetches.
func kafkaToolsClasspath(t *testing.T) (java, cp string) {
	t.Helper()
	java = needTool(t, "java", "Debian package openjdk-17-jre-headless")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "test", "kafkaclients", "target", "dependency")
	if jars, _ := filepath.Glob(filepath.Join(dir, "kafka-tools-*.jar")); len(jars) == 0 {
		skipOrFailInCI(t, "no kafka-tools jar in %s: run `mvn -q -f test/kafkaclients/pom.xml dependency:copy-dependencies` (.ci/run does)", dir)
	}
	return java, filepath.Join(dir, "*")
}

var perfSent = regexp.MustCompile(`(?m)^(\d+) records sent, [\d.]+ records/sec`)

// TestKafkaJavaTools runs small runs of Apache Kafka's own tools, on the
// Java client, against the broker: ProducerPerformance (acks=1 and all),
// VerifiableProducer, ClientCompatibilityTest, ConsumerPerformance and
// VerifiableConsumer (groups), the producers idempotent as the Java client's
// defaults have them. Each result is checked
// against what the broker stored.
func TestKafkaJavaTools(t *testing.T) {
	java, cp := kafkaToolsClasspath(t)
	b, cl := startKafkaProc(t)
	addr := b.KafkaAddr()
	tool := func(class string, args ...string) string {
		t.Helper()
		return runTool(t, "", java, append([]string{"-cp", cp, "org.apache.kafka.tools." + class}, args...)...)
	}

	t.Run("ProducerPerformance", func(t *testing.T) {
		createKafkaTopic(t, cl, "perf", 3)
		const n = 20000
		for _, acks := range []string{"1", "all"} {
			out := tool("ProducerPerformance", "--topic", "perf", "--num-records", strconv.Itoa(n), "--record-size", "100",
				"--throughput", "-1", "--command-property", "bootstrap.servers="+addr, "acks="+acks,
				"linger.ms=5")
			m := perfSent.FindStringSubmatch(out)
			if m == nil || m[1] != strconv.Itoa(n) {
				t.Fatalf("acks=%s: no %q line in:\n%s", acks, fmt.Sprintf("%d records sent", n), out)
			}
			t.Logf("acks=%s: %s", acks, strings.TrimSpace(m[0]))
		}
		ends, err := kadm.NewClient(cl).ListEndOffsets(faultCtx(t, procWait), "perf")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total != 2*n {
			t.Errorf("partitions of perf end at %d records in all, want %d", total, 2*n)
		}
	})

	t.Run("ConsumerPerformance", func(t *testing.T) {
		out := tool("ConsumerPerformance", "--bootstrap-server", addr, "--topic", "perf", "--num-records", "40000", "--timeout", "60000", "--hide-header")
		f := strings.Split(strings.TrimSpace(out), ", ")
		if len(f) < 5 || f[4] != "40000" {
			t.Fatalf("ConsumerPerformance: want 40000 records consumed, got:\n%s", out)
		}
	})

	t.Run("VerifiableProducer", func(t *testing.T) {
		createKafkaTopic(t, cl, "ver", 1)
		const n = 300
		out := tool("VerifiableProducer", "--bootstrap-server", addr, "--topic", "ver", "--max-messages", strconv.Itoa(n),
			"--acks", "-1")
		var acked, next int
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var ev struct {
				Name      string `json:"name"`
				Value     string `json:"value"`
				Offset    int64  `json:"offset"`
				Partition int32  `json:"partition"`
				Acked     int    `json:"acked"`
				Message   string `json:"message"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			switch ev.Name {
			case "producer_send_success":
				// One producer, one partition, acks=all: in order.
				if ev.Offset != int64(next) || ev.Value != strconv.Itoa(next) {
					t.Fatalf("send %d acknowledged at offset %d with value %q", next, ev.Offset, ev.Value)
				}
				next++
			case "producer_send_error":
				t.Errorf("producer_send_error: %s", sc.Text())
			case "tool_data":
				acked = ev.Acked
			}
		}
		if next != n || acked != n {
			t.Fatalf("VerifiableProducer: %d successes, tool_data acked=%d; want %d", next, acked, n)
		}
		recs := readAll(t, addr, "ver", 0)
		for i, r := range recs {
			if r.Offset != int64(i) || string(r.Value) != strconv.Itoa(i) || r.Key != nil {
				t.Fatalf("stored record %d = offset %d key %q value %q", i, r.Offset, r.Key, r.Value)
			}
		}
		if len(recs) != n {
			t.Fatalf("stored %d records, want %d", len(recs), n)
		}
	})

	t.Run("VerifiableConsumer", func(t *testing.T) {
		out := tool("VerifiableConsumer", "--bootstrap-server", addr, "--topic", "ver", "--group-id", "vc", "--max-messages", "300", "--reset-policy", "earliest")
		if !strings.Contains(out, `"name":"records_consumed"`) {
			t.Fatalf("VerifiableConsumer consumed nothing:\n%s", out)
		}
	})

	t.Run("ClientCompatibilityTest", func(t *testing.T) {
		// It produces to a topic that must exist (it relies on
		// auto-creation otherwise), creates "newtopic", reads cluster
		// id, nodes and broker configs, and reads its records back by
		// assignment, by time, and with a 512-byte fetch limit (KIP-74).
		createKafkaTopic(t, cl, "compat", 1)
		out := tool("ClientCompatibilityTest", "--topic", "compat", "--bootstrap-server", addr,
			"--offsets-for-times-supported", "true", "--cluster-id-supported", "true",
			"--expect-record-too-large-exception", "false", "--num-cluster-nodes", "1",
			"--create-topics-supported", "true", "--describe-acls-supported", "false",
			"--describe-configs-supported", "true",
			"--idempotent-producer-supported", "true")
		if !strings.Contains(out, "SUCCESS.") {
			t.Fatalf("ClientCompatibilityTest did not report SUCCESS:\n%s", out)
		}
	})
}

// --- kafka-python ---

// TestKafkaPython produces records with keys, values and headers with
// kafka-python and consumes them back (test/kafkaclients/
// kafka_python_roundtrip.py checks them); franz-go then reads the same
// records from the broker.
func TestKafkaPython(t *testing.T) {
	py := needTool(t, "python3", "Debian package python3")
	if _, errOut, err := tryTool(t, "", py, "-c", "import kafka"); err != nil {
		skipOrFailInCI(t, "kafka-python is not installed (pip install kafka-python; .ci/run does): %v %s", err, errOut)
	}
	b, cl := startKafkaProc(t)
	createKafkaTopic(t, cl, "py", 1)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	out := runTool(t, "", py, filepath.Join(root, "test", "kafkaclients", "kafka_python_roundtrip.py"), b.KafkaAddr(), "py", strconv.Itoa(n))
	if !strings.Contains(out, fmt.Sprintf("OK %d records", n)) {
		t.Fatalf("kafka-python round trip:\n%s", out)
	}
	recs := readAll(t, b.KafkaAddr(), "py", 0)
	if len(recs) != n {
		t.Fatalf("franz-go read %d records, kafka-python produced %d", len(recs), n)
	}
	for i, r := range recs {
		wantValue := strings.Repeat(fmt.Sprintf("value-%d", i), 1+i%3)
		if string(r.Key) != fmt.Sprintf("key-%d", i) || string(r.Value) != wantValue || len(r.Headers) != 2 ||
			r.Headers[0].Key != "n" || string(r.Headers[0].Value) != strconv.Itoa(i) || string(r.Headers[1].Value) != "kafka-python" {
			t.Fatalf("record %d as franz-go reads it: key %q value %q headers %v", i, r.Key, r.Value, r.Headers)
		}
	}
}
