package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/test/testbroker"
)

// realBroker serves real storage with a group coordinator on loopback: the
// fake broker has no groups.
func realBroker(t *testing.T) string {
	return testbroker.Start(t, partition.Config{})
}

func TestGroupsListAndDescribe(t *testing.T) {
	addr := realBroker(t)
	lbAt(t, addr, "", "groups", "list").wantErr(t, exitOK, "no consumer groups yet")
	lbAt(t, addr, "", "topics", "create", "t", "--partitions", "3").want(t, exitOK, "created topic t with 3 partitions\n")
	lbAt(t, addr, "a\nb\nc\nd\ne\n", "produce", "t", "--partition", "0").want(t, exitOK, "produced 5 records to t/0 at offsets 0..4\n")
	lbAt(t, addr, "x\ny\nz\n", "produce", "t", "--partition", "1").want(t, exitOK, "produced 3 records to t/1 at offsets 0..2\n")

	c, err := client.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Broker().CommitOffsets(ctx, &pb.CommitOffsetsRequest{Group: "g", Topic: "t",
		Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 2}}}); err != nil {
		t.Fatal(err)
	}
	stream, err := c.Broker().JoinGroup(ctx, &pb.JoinGroupRequest{Group: "g", Topic: "t", MemberId: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	lbAt(t, addr, "", "groups", "list").want(t, exitOK,
		"GROUP  TOPIC  GENERATION  MEMBERS\n"+
			"g      t      1           1\n")
	lbAt(t, addr, "", "groups", "describe", "g").want(t, exitOK,
		"group g: topic t, generation 1, 1 member\n"+
			"PARTITION  MEMBER  COMMITTED  NEXT  LAG\n"+
			"0          m1      2          5     3\n"+
			"1          m1      -          3     3\n"+
			"2          m1      -          0     0\n"+
			"total lag 6\n")
	lbAt(t, addr, "", "groups", "describe", "nope").wantErr(t, exitError, `group "nope" not found`)

	// A deleted topic leaves the group (and its offsets) behind.
	if _, err := c.Broker().CommitOffsets(ctx, &pb.CommitOffsetsRequest{Group: "old", Topic: "t",
		Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 1}}}); err != nil {
		t.Fatal(err)
	}
	lbAt(t, addr, "", "topics", "delete", "t").want(t, exitOK, "deleted topic t\n")
	lbAt(t, addr, "", "groups", "describe", "old").want(t, exitOK,
		"group old: topic t, generation 0, 0 members\n"+
			"topic t does not exist (deleted?): no offsets or lag to show\n")
}

// TestConsumeGroup runs lb consume --group until it has printed every
// record, stops it like Ctrl-C, and finds its progress committed.
func TestConsumeGroup(t *testing.T) {
	addr := realBroker(t)
	lbAt(t, addr, "", "topics", "create", "t", "--partitions", "2").want(t, exitOK, "created topic t with 2 partitions\n")
	lbAt(t, addr, "a\nb\nc\n", "produce", "t", "--partition", "0").want(t, exitOK, "produced 3 records to t/0 at offsets 0..2\n")
	lbAt(t, addr, "x\ny\n", "produce", "t", "--partition", "1").want(t, exitOK, "produced 2 records to t/1 at offsets 0..1\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "consume", "t", "--group", "g", "--member", "m", "--output", "json"}, strings.NewReader(""), &out, &errOut)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), "\n") < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("lb consume --group printed only:\n%s\nstderr:\n%s", out.String(), errOut.String())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, errOut.String())
	}
	for _, want := range []string{`"partition":0,"offset":2,"key":null,"value":"c"`, `"partition":1,"offset":1,"key":null,"value":"y"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "member m of group g, generation 1: partitions [0 1]") {
		t.Errorf("stderr does not report the assignment:\n%s", errOut.String())
	}
	// The member's stream ends with lb; the broker sees it end a moment later.
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(lbAt(t, addr, "", "groups", "list").stdout, "2           0") {
		if time.Now().After(deadline) {
			t.Fatal("the member did not leave after lb stopped")
		}
		time.Sleep(time.Millisecond)
	}
	lbAt(t, addr, "", "groups", "describe", "g").want(t, exitOK,
		"group g: topic t, generation 2, 0 members\n"+
			"PARTITION  MEMBER  COMMITTED  NEXT  LAG\n"+
			"0          -       3          3     0\n"+
			"1          -       2          2     0\n"+
			"total lag 0\n")
}

func TestGroupsUsageErrors(t *testing.T) {
	addr := testutil.ClosedAddr(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"groups"}, "list or describe"},
		{[]string{"groups", "frob"}, `unknown subcommand "frob"`},
		{[]string{"groups", "list", "x"}, "takes no arguments"},
		{[]string{"groups", "describe"}, "want one GROUP, got 0"},
		{[]string{"consume", "t", "--group", "g", "--partition", "1"}, "[--partition] cannot be used with --group"},
		{[]string{"consume", "t", "--group", "g", "--from", "latest", "--no-follow"}, "[--from --no-follow] cannot be used with --group"},
		{[]string{"consume", "t", "--group", "g", "--commit-interval", "0s"}, "--commit-interval 0s: want a positive duration"},
	}
	for _, tt := range tests {
		lbAt(t, addr, "", tt.args...).wantErr(t, exitUsage, tt.want)
	}
}
