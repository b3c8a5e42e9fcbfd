package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/sysctl"
)

// GetOptions are get's inputs; tests fill them and call getRun directly.
type GetOptions struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots      hostfs.Roots
	Namespaces nsflag.Flags
	Keys       []string
	ValuesOnly bool
	Force      bool
	Output     string

	keys []sysctl.Key
}

// NewCmdGet returns `sysctl get`. runF replaces getRun in tests.
func NewCmdGet(f *cmdutil.Factory, runF func(*GetOptions) error) *cobra.Command {
	opts := &GetOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:               "get [-n] [KEY...]",
		ValidArgsFunction: cmdutil.CompleteSysctlKeys,
		Short:             "Print tunables as key = value",
		Long: `Print tunables as sysctl(8) does: "key = value", or only the values with -n.
Without keys, every tunable backlogctl knows that is visible here.

A key absent here (a global key inside a child network namespace) is an error
(exit 3); the keys that could be read are still printed.

--netns NAME|PATH reads inside that network namespace (its per-netns keys;
global keys are not visible there); --all-netns reads every namespace, each
under a "LABEL:" line (JSON: {"namespaces": [{"netns", "values"}], "notes"}).`,
		Example: `  backlogctl sysctl get somaxconn
  backlogctl sysctl get -n net.core.somaxconn net.ipv4.tcp_syncookies
  backlogctl sysctl get -o json
  backlogctl sysctl get --all-netns somaxconn
  backlogctl sysctl get --force net.ipv4.ip_local_port_range`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots, opts.Keys = f.Roots, args
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return getRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.ValuesOnly, "values", "n", false, "print only the values")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "allow keys outside backlogctl's registry")
	nsflag.Add(cmd, &opts.Namespaces)
	cmdutil.AddOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	cmd.ValidArgs = sysctl.Names()
	return cmd
}

// Validate resolves every key before anything is read.
func (o *GetOptions) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if err := o.Namespaces.Validate(); err != nil {
		return err
	}
	keys, err := resolveKeys(o.Keys, o.Force)
	if err != nil {
		return err
	}
	o.keys = keys
	return nil
}

// resolveKeys maps names to registry keys; none means the whole registry.
func resolveKeys(names []string, force bool) ([]sysctl.Key, error) {
	if len(names) == 0 {
		return sysctl.Registry, nil
	}
	out := make([]sysctl.Key, 0, len(names))
	for _, n := range names {
		k, err := sysctl.Resolve(n, force)
		if err != nil {
			return nil, keyError(err)
		}
		out = append(out, k)
	}
	return out, nil
}

// keyError turns a validation error into a usage error with a hint.
func keyError(err error) error {
	if errors.Is(err, sysctl.ErrUnknownKey) {
		return cmdutil.UsageErrorf("%v (known: %s; --force allows any key under /proc/sys)", err, strings.Join(registryNames(), ", "))
	}
	return cmdutil.UsageErrorf("%v", err)
}

func registryNames() []string {
	out := make([]string, 0, len(sysctl.Registry))
	for _, k := range sysctl.Registry {
		out = append(out, k.Name)
	}
	return out
}

func getRun(o *GetOptions) error {
	if o.Namespaces.Set() {
		return getIn(o)
	}
	vals, err := readValues(o)
	if perr := printValues(o.IO, o.Output, o.ValuesOnly, vals); perr != nil {
		return perr
	}
	return err
}

// readValues reads the keys where the calling thread is; the keys that
// could be read are returned beside the error for the rest.
func readValues(o *GetOptions) ([]Value, error) {
	sys := sysctl.NewFS(o.Roots.Sys)
	all := len(o.Keys) == 0
	vals := []Value{}
	var failed []string
	var firstErr error
	for _, k := range o.keys {
		v, err := sys.ReadString(k.Name)
		switch {
		case err == nil:
			vals = append(vals, Value{Key: k.Name, Value: v})
		case all && errors.Is(err, fs.ErrNotExist):
			// Listing everything: a key not visible here is simply not listed.
		default:
			failed = append(failed, k.Name)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr == nil {
		return vals, nil
	}
	if errors.Is(firstErr, fs.ErrNotExist) {
		firstErr = fmt.Errorf("%s: not visible here (absent in this kernel or network namespace)", failed[0])
	}
	if sysctl.IsBadInput(firstErr) {
		return vals, cmdutil.UsageErrorf("%v", firstErr)
	}
	if len(failed) > 1 {
		return vals, cmdutil.EnvError(fmt.Errorf("%w (and %d more: %s)", firstErr, len(failed)-1, strings.Join(failed[1:], ", ")))
	}
	return vals, cmdutil.EnvError(firstErr)
}

// printValues writes key = value lines, values only, or JSON.
func printValues(io *iostreams.IOStreams, output string, valuesOnly bool, vals []Value) error {
	if output == "json" {
		return cmdutil.PrintData(io, vals)
	}
	for _, v := range vals {
		if valuesOnly {
			fmt.Fprintln(io.Out, v.Value)
		} else {
			fmt.Fprintf(io.Out, "%s = %s\n", v.Key, v.Value)
		}
	}
	return nil
}
