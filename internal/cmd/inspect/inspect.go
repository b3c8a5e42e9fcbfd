// Package inspect is the `backlogctl inspect` command.
package inspect

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
)

// Options are inspect's inputs; tests fill them and call inspectRun directly.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots hostfs.Roots
	Ports []uint
	// Paths are --path: Unix listeners by path or pattern.
	Paths []string
	// PIDs, Processes and Addresses are --pid, --process and --address:
	// listeners are filtered by them after gathering (filter.go).
	PIDs        []int
	Processes   []string
	Addresses   []string
	NoProcesses bool
	Output      string
	// Namespaces are --netns and --all-netns (see netns.go).
	Namespaces nsflag.Flags

	// Snapshot asks the collector for the snapshots; replaced in tests.
	Snapshot func(collect.Options) (*model.MultiSnapshot, error)
}

var formats = []string{"table", "json", "prom"}

// NewCmdInspect returns the inspect command. runF replaces inspectRun in tests.
func NewCmdInspect(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Snapshot: collect.Snapshot}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show every listener's queues, the tunables, the counters and descriptor limits",
		Long: `Show everything that decides whether this host accepts TCP and Unix-socket
connections, in one report:

  Tunables   net.core.somaxconn, net.ipv4.tcp_max_syn_backlog, tcp_syncookies,
             tcp_abort_on_overflow, tcp_synack_retries, netdev_max_backlog,
             fs.file-max and fs.nr_open: value, scope, meaning. A key not
             visible in this network namespace is shown as absent.
  Listeners  every listening TCP socket (IPv4 and IPv6), from one netlink
             sock_diag dump filtered by the kernel to LISTEN and SYN-RECV:
             accept queue against the effective backlog, fill, SYN queue
             (half-open requests), the listener's own drop count, inode, uid,
             and the processes holding it with their descriptor usage and
             RLIMIT_NOFILE soft/hard limits. Then every Unix stream and
             seqpacket listener (sock_diag's unix_diag), with "unix" where
             the address is and its path (or @abstract name) where the port
             is: its accept queue and backlog, inode, uid and owners. It has
             no SYN queue, and the kernel counts no drops for it: a connect()
             to a full one fails with EAGAIN or waits (explain unix-sockets).
  Counters   TcpExtListenOverflows, ListenDrops, TCPReqQFullDrop,
             TCPReqQFullDoCookies and the Syncookies counters, as nstat names them.
  Files      fs.file-nr allocated against fs.file-max, and fs.nr_open.

FILL is accept queue / (backlog + 1): the kernel holds backlog+1 connections
in a full queue, so 1.00 means full and new handshakes are being dropped.
Members of an SO_REUSEPORT group share a GROUP number; their SYN queue is
counted for the group, since request sockets do not say which member owns them.

On a terminal the sections are aligned tables; piped, they are tab-separated
lines. -o json prints one object whose field names are a stable contract
(see docs/REFERENCE.md). -o prom prints the Prometheus text exposition that
'backlogctl exporter' serves, once.

--port, --path, --pid, --process and --address pick listeners: by port,
by Unix socket path (exact, a pattern such as /run/php/*.sock, or an
@abstract name), by the pid or name (comm, as ps -o comm shows it) of a
process holding the socket, or by the address it is bound to (an IP address
or a prefix; 0.0.0.0 and :: are the wildcard listeners). --port alone shows
no Unix listener and --path alone no TCP one; together they show both.
Values of one flag are alternatives; different flags must all hold. The
tunables, counters and descriptors are shown whole.

--netns NAME|PATH reads another network namespace (a name under /run/netns,
or a path such as /proc/PID/ns/net); --all-netns reads every namespace on
the host (found in /proc/*/ns/net and /run/netns) and reports each with its
own tunables and counters.

Exit status: 0 on success, 2 on a usage error, 3 when the listeners could not
be read (e.g. netlink denied), or when --all-netns could read no namespace at
all (without root, entering one is not allowed). Parts that could not be read
(a process's descriptors without root, a namespace that could not be
entered) are reported as warnings or notes on stderr.`,
		Example: `  # everything, for a person
  backlogctl inspect

  # one service, for a script
  backlogctl inspect --port 443 -o json | jq '.listeners[] | {port, accept_queue, accept_queue_max, drops}'

  # php-fpm's Unix sockets, and what each pool's configuration asks for
  backlogctl inspect --path '/run/php/*.sock' -o json | jq '.listeners[] | {path, accept_queue, accept_queue_max, configured_backlog}'

  # nginx's listeners, or one process's, or those on loopback
  backlogctl inspect --process nginx
  backlogctl inspect --pid 4242 -o json
  backlogctl inspect --address 127.0.0.0/8 --address ::1

  # faster, without finding the owning processes
  backlogctl inspect --no-processes

  # a container's namespace, or every namespace on the host
  backlogctl inspect --netns /proc/4242/ns/net
  backlogctl inspect --all-netns -o json

  # for node_exporter's textfile collector
  backlogctl inspect -o prom > /var/lib/node_exporter/backlogctl.prom.$$ &&
    mv /var/lib/node_exporter/backlogctl.prom.$$ /var/lib/node_exporter/backlogctl.prom`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return cmdutil.UsageErrorf("inspect takes no arguments, got %q (to pick listeners use --port or --path)", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			oneShotGC()
			return inspectRun(opts)
		},
	}
	cmdutil.AddPortFlag(cmd, &opts.Ports, "show only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "show only listeners on")
	cmd.Flags().IntSliceVar(&opts.PIDs, "pid", nil, "show only listeners held by the process `PID` (repeatable, or comma-separated)")
	cmd.Flags().StringSliceVar(&opts.Processes, "process", nil, "show only listeners held by a process named `NAME`, as ps -o comm shows it (repeatable, or comma-separated)")
	cmd.Flags().StringSliceVar(&opts.Addresses, "address", nil, "show only listeners bound to `ADDRESS`, an IP address or a prefix such as 10.0.0.0/8; 0.0.0.0 and :: are the wildcards (repeatable, or comma-separated)")
	cmd.Flags().BoolVar(&opts.NoProcesses, "no-processes", false, "skip finding the processes that own each listener (faster)")
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	nsflag.Add(cmd, &opts.Namespaces)
	return cmd
}

// Validate checks the flags before anything is read.
func (o *Options) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if _, err := cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if _, err := cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	if _, err := newFilter(o); err != nil {
		return err
	}
	return o.Namespaces.Validate()
}

func inspectRun(o *Options) error {
	ports, _ := cmdutil.Ports(o.Ports)
	co := collect.Options{Roots: o.Roots, Namespaces: o.Namespaces.Collect(), Ports: ports, Paths: o.Paths, Owners: collect.OwnersOn, Pods: true}
	if o.NoProcesses {
		co.Owners = collect.OwnersOff
	}
	m, err := o.Snapshot(co)
	if err != nil {
		return nsflag.Error(err)
	}
	if o.Namespaces.Set() || o.Output == "prom" {
		return namespacesRun(o, m)
	}
	snap := m.Namespaces[0].Snapshot
	if f, _ := newFilter(o); f.active() {
		f.apply(snap)
	}
	switch o.Output {
	case "json":
		if o.IO.YAML() {
			return cmdutil.PrintData(o.IO, snap)
		}
		return snap.WriteJSON(o.IO.Out) // the bytes cmdutil.WriteJSON would write, streamed
	case "table":
		return renderTable(o.IO, snap)
	default:
		return cmdutil.UsageErrorf("invalid --output %q", o.Output)
	}
}

// oneShotGC turns garbage collection off below a 24 MiB soft memory limit,
// unless GOGC or GOMEMLIMIT say otherwise: inspect runs once and exits, and
// on 9,000 listeners the whole report allocates about 4 MiB (10 MiB with
// owners), nothing a collection would win back in time (docs/BENCHMARKS.md);
// the limit makes a far bigger host collect rather than grow without bound.
func oneShotGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(24 << 20)
}
