package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

// groupFlags are consume's flags for reading as a member of a group.
type groupFlags struct {
	group          *string
	member         *string
	commitInterval *time.Duration
}

func addGroupFlags(fs *flag.FlagSet) groupFlags {
	return groupFlags{
		group:          fs.String("group", "", "consume as a member of consumer group `GROUP`: the group's partitions are shared among its members, and reading resumes at its committed offsets"),
		member:         fs.String("member", "", "with --group: member `ID` (default: the broker names one)"),
		commitInterval: fs.Duration("commit-interval", client.DefaultCommitInterval, "with --group: how often to commit progress, e.g. 500ms"),
	}
}

// consumeGroup is lb consume --group: print the records of the partitions
// the broker assigns to this member until interrupted, committing progress.
// --partition, --from and --no-follow belong to single-partition reads.
func consumeGroup(ctx context.Context, e *env, u usage, fs *flag.FlagSet, topic string, gf groupFlags,
	printEntry func(io.Writer, uint32, *pb.LogEntry) error, maxBytes uint32) error {
	var clash []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "partition", "from", "no-follow":
			clash = append(clash, "--"+f.Name)
		}
	})
	if len(clash) > 0 {
		return u.fail(fmt.Sprintf("%v cannot be used with --group: the group assigns partitions and starts at its committed offsets", clash))
	}
	if *gf.commitInterval <= 0 {
		return u.fail(fmt.Sprintf("--commit-interval %s: want a positive duration", *gf.commitInterval))
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	log := e.logger()
	w := bufio.NewWriter(e.stdout)
	opts := client.GroupOptions{
		MemberID:       *gf.member,
		CommitInterval: *gf.commitInterval,
		MaxBytes:       maxBytes,
		AfterBatch:     w.Flush,
		Logger:         log,
		OnAssign: func(a client.GroupAssignment) {
			fmt.Fprintf(e.stderr, "lb: member %s of group %s, generation %d: partitions %v\n", a.MemberID, *gf.group, a.Generation, a.Partitions)
		},
	}
	err = c.ConsumeGroup(ctx, *gf.group, topic, opts, func(p uint32, entry *pb.LogEntry) error {
		return printEntry(w, p, entry)
	})
	return endPrinting(ctx, w, err) // on Ctrl-C progress was committed on the way out
}
