package main

import (
	"context"
	"fmt"
	"math"

	"github.com/logbroker/logbroker/client"
)

const topicsUsage = `Create, list, describe and delete topics.

Usage:
  lb topics create NAME [--partitions N]   create a topic with N partitions (default 1)
  lb topics list                           list topics and their partition counts
  lb topics describe NAME                  show each partition's offsets
  lb topics delete NAME                    delete a topic and all of its records

Topic names are 1-249 characters of [a-zA-Z0-9._-].
Run 'lb topics <subcommand> --help' for its flags.
`

func runTopics(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb topics", line: "lb topics create|list|describe|delete ...", text: topicsUsage}
	return e.dispatch(ctx, u, args, []command{
		{name: "create", run: topicsCreate},
		{name: "list", run: topicsList},
		{name: "describe", run: topicsDescribe},
		{name: "delete", run: topicsDelete},
	})
}

func topicsCreate(ctx context.Context, e *env, args []string) error {
	u := usage{
		name: "lb topics create",
		line: "lb topics create NAME [--partitions N]",
		text: `Create a topic.

Usage:
  lb topics create NAME [--partitions N]

The partition count is fixed once the topic exists. Records with the same key
always go to the same partition, so pick N for the parallelism you will need.

Example:
  lb topics create orders --partitions 3
`,
	}
	fs := e.flagSet(u.name)
	partitions := fs.Uint("partitions", 1, "number of partitions `N`")
	name, err := e.parseOne(fs, u, args, "topic NAME")
	if err != nil {
		return err
	}
	if *partitions == 0 || uint64(*partitions) > math.MaxUint32 {
		return u.fail(fmt.Sprintf("--partitions %d: want 1 or more (the broker sets the maximum)", *partitions))
	}
	return e.request(ctx, func(rctx context.Context, c *client.Client) error {
		md, err := c.CreateTopic(rctx, name, uint32(*partitions))
		if err != nil {
			return err
		}
		n := len(md.GetPartitions())
		fmt.Fprintf(e.stdout, "created topic %s with %d %s\n", md.GetName(), n, plural(n, "partition"))
		return nil
	})
}

func topicsList(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb topics list", line: "lb topics list", text: "List topics, sorted by name, with their partition counts.\n\nUsage:\n  lb topics list\n"}
	if err := e.parseNone(e.flagSet(u.name), u, args); err != nil {
		return err
	}
	return e.request(ctx, func(rctx context.Context, c *client.Client) error {
		topics, err := c.ListTopics(rctx)
		if err != nil {
			return err
		}
		if len(topics) == 0 {
			fmt.Fprintln(e.stderr, "no topics yet; create one with: lb topics create NAME --partitions N")
			return nil
		}
		tw := newTable(e.stdout, "NAME", "PARTITIONS")
		for _, t := range topics {
			fmt.Fprintf(tw, "%s\t%d\n", t.GetName(), len(t.GetPartitions()))
		}
		return tw.Flush()
	})
}

func topicsDescribe(ctx context.Context, e *env, args []string) error {
	u := usage{
		name: "lb topics describe",
		line: "lb topics describe NAME",
		text: `Show each partition's offsets.

Usage:
  lb topics describe NAME

LOG-START is the lowest offset still stored (retention moves it up), NEXT the
offset the next record will get, and COUNT = NEXT - LOG-START the records held.
`,
	}
	name, err := e.parseOne(e.flagSet(u.name), u, args, "topic NAME")
	if err != nil {
		return err
	}
	return e.request(ctx, func(rctx context.Context, c *client.Client) error {
		offs, err := c.GetOffsets(rctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "topic %s: %d %s\n", name, len(offs), plural(len(offs), "partition"))
		tw := newTable(e.stdout, "PARTITION", "LOG-START", "NEXT", "COUNT")
		for _, o := range offs {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\n", o.GetPartition(), o.GetLogStartOffset(), o.GetNextOffset(),
				o.GetNextOffset()-o.GetLogStartOffset())
		}
		return tw.Flush()
	})
}

func topicsDelete(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb topics delete", line: "lb topics delete NAME", text: "Delete a topic and all of its records. There is no undo.\n\nUsage:\n  lb topics delete NAME\n"}
	name, err := e.parseOne(e.flagSet(u.name), u, args, "topic NAME")
	if err != nil {
		return err
	}
	return e.request(ctx, func(rctx context.Context, c *client.Client) error {
		if err := c.DeleteTopic(rctx, name); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted topic %s\n", name)
		return nil
	})
}
