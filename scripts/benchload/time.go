package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// benchCase is one measured thing: one or more commands run back to back.
type benchCase struct {
	label string
	cmds  [][]string
	wall  []time.Duration
	rss   []int64 // KiB, largest of the case's commands
}

type caseFlags []string

func (c *caseFlags) String() string     { return strings.Join(*c, ", ") }
func (c *caseFlags) Set(v string) error { *c = append(*c, v); return nil }

func runTime(args []string) error {
	var specs caseFlags
	fs := flag.NewFlagSet("time", flag.ContinueOnError)
	runs := fs.Int("runs", 21, "rounds; each round runs every case once")
	warmup := fs.Int("warmup", 2, "unrecorded rounds first")
	fs.Var(&specs, "case", "'label::cmd args[&&cmd args...]' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(specs) == 0 || *runs < 1 {
		return errors.New("time: need at least one -case and -runs >= 1")
	}
	cases := make([]*benchCase, 0, len(specs))
	for _, s := range specs {
		label, cmdline, ok := strings.Cut(s, "::")
		if !ok {
			return fmt.Errorf("case %q: want label::command", s)
		}
		c := &benchCase{label: label}
		for _, part := range strings.Split(cmdline, "&&") {
			argv := strings.Fields(part)
			if len(argv) == 0 {
				return fmt.Errorf("case %q: empty command", s)
			}
			c.cmds = append(c.cmds, argv)
		}
		cases = append(cases, c)
	}
	for round := 0; round < *warmup+*runs; round++ {
		// Rotate the order so no case always runs right after another.
		for i := range cases {
			c := cases[(i+round)%len(cases)]
			wall, rss, err := c.run()
			if err != nil {
				return fmt.Errorf("%s: %w", c.label, err)
			}
			if round >= *warmup {
				c.wall = append(c.wall, wall)
				c.rss = append(c.rss, rss)
			}
		}
	}
	fmt.Printf("| case | median wall ms | min ms | max ms | median peak RSS MiB | runs |\n|---|---:|---:|---:|---:|---:|\n")
	for _, c := range cases {
		slices.Sort(c.wall)
		slices.Sort(c.rss)
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.1f | %d |\n", c.label,
			ms(median(c.wall)), ms(c.wall[0]), ms(c.wall[len(c.wall)-1]),
			float64(median(c.rss))/1024, len(c.wall))
	}
	return nil
}

// run executes the case's commands with output discarded.
func (c *benchCase) run() (time.Duration, int64, error) {
	var total time.Duration
	var peak int64
	for _, argv := range c.cmds {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = os.Stderr
		start := time.Now()
		err := cmd.Run()
		total += time.Since(start)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss)
		}
	}
	return total, peak, nil
}

func median[T int64 | time.Duration](s []T) T {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
