package main

import (
	"context"
	"fmt"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

const groupsUsage = `List and describe consumer groups.

Usage:
  lb groups list              list groups: topic, generation, member count
  lb groups describe GROUP    show members, their partitions, committed offsets and lag

A group's members share its topic's partitions; join one with:
  lb consume TOPIC --group GROUP
Run 'lb groups <subcommand> --help' for its flags.
`

func runGroups(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb groups", line: "lb groups list|describe ...", text: groupsUsage}
	return e.dispatch(ctx, u, args, []command{
		{name: "list", run: groupsList},
		{name: "describe", run: groupsDescribe},
	})
}

func groupsList(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb groups list", line: "lb groups list", text: "List consumer groups, sorted by name.\n\nUsage:\n  lb groups list\n"}
	if err := e.parseNone(e.flagSet(u.name), u, args); err != nil {
		return err
	}
	return e.request(ctx, func(rctx context.Context, c *client.Client) error {
		resp, err := c.Broker().ListGroups(rctx, &pb.ListGroupsRequest{})
		if err != nil {
			return err
		}
		if len(resp.GetGroups()) == 0 {
			fmt.Fprintln(e.stderr, "no consumer groups yet; start one with: lb consume TOPIC --group GROUP")
			return nil
		}
		tw := newTable(e.stdout, "GROUP", "TOPIC", "GENERATION", "MEMBERS")
		for _, g := range resp.GetGroups() {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", g.GetGroup(), orDash(g.GetTopic()), g.GetGeneration(), len(g.GetMembers()))
		}
		return tw.Flush()
	})
}

func groupsDescribe(ctx context.Context, e *env, args []string) error {
	u := usage{
		name: "lb groups describe",
		line: "lb groups describe GROUP",
		text: `Show a consumer group: its members and their partitions, and for each
partition the committed offset and the lag.

Usage:
  lb groups describe GROUP

COMMITTED is the next offset the group will read (what its members
committed); "-" means nothing is committed and a member starts at the log
start. NEXT is the offset the next record will get, and LAG = NEXT - COMMITTED
the records not yet consumed (NEXT - LOG-START when nothing is committed).
`,
	}
	name, err := e.parseOne(e.flagSet(u.name), u, args, "GROUP")
	if err != nil {
		return err
	}
	return e.request(ctx, func(rctx context.Context, c *client.Client) error {
		return describeGroup(rctx, e, c, name)
	})
}

// describeGroup prints group name's members, committed offsets and lag.
func describeGroup(rctx context.Context, e *env, c *client.Client, name string) error {
	resp, err := c.Broker().ListGroups(rctx, &pb.ListGroupsRequest{})
	if err != nil {
		return err
	}
	var g *pb.GroupInfo
	for _, x := range resp.GetGroups() {
		if x.GetGroup() == name {
			g = x
		}
	}
	if g == nil {
		return fmt.Errorf("group %q not found (see groups with: lb groups list)", name)
	}
	owner := map[uint32]string{}
	for _, m := range g.GetMembers() {
		for _, p := range m.GetPartitions() {
			owner[p] = m.GetMemberId()
		}
	}
	n := len(g.GetMembers())
	fmt.Fprintf(e.stdout, "group %s: topic %s, generation %d, %d %s\n", g.GetGroup(), orDash(g.GetTopic()), g.GetGeneration(), n, plural(n, "member"))
	if g.GetTopic() == "" {
		return nil
	}
	fetched, err := c.Broker().FetchOffsets(rctx, &pb.FetchOffsetsRequest{Group: name, Topic: g.GetTopic()})
	if status.Code(err) == codes.NotFound {
		fmt.Fprintf(e.stdout, "topic %s does not exist (deleted?): no offsets or lag to show\n", g.GetTopic())
		return nil
	}
	if err != nil {
		return err
	}
	committed := map[uint32]uint64{}
	for _, o := range fetched.GetOffsets() {
		committed[o.GetPartition()] = o.GetOffset()
	}
	offs, err := c.GetOffsets(rctx, g.GetTopic())
	if err != nil {
		return err
	}
	tw := newTable(e.stdout, "PARTITION", "MEMBER", "COMMITTED", "NEXT", "LAG")
	var total uint64
	for _, o := range offs {
		p := o.GetPartition()
		com, lag := "-", lagOf(o, committed, p)
		if c, ok := committed[p]; ok {
			com = strconv.FormatUint(c, 10)
		}
		total += lag
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\n", p, orDash(owner[p]), com, o.GetNextOffset(), lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "total lag %d\n", total)
	return nil
}

// lagOf is next_offset - committed: the records the group has not consumed.
// With nothing committed a member starts at the log start. A committed
// offset past the end (the topic was made again) counts as no lag.
func lagOf(o *pb.PartitionOffsets, committed map[uint32]uint64, p uint32) uint64 {
	from, ok := committed[p]
	if !ok {
		from = o.GetLogStartOffset()
	}
	if from >= o.GetNextOffset() {
		return 0
	}
	return o.GetNextOffset() - from
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
