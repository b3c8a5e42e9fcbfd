package cmdutil

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/model"
)

// Ports validates --port values (1..65535) and converts them.
func Ports(in []uint) ([]uint16, error) {
	out := make([]uint16, 0, len(in))
	for _, p := range in {
		if p < 1 || p > 65535 {
			return nil, UsageErrorf("invalid --port %d: want 1..65535", p)
		}
		out = append(out, uint16(p))
	}
	return out, nil
}

// portsValue is --port: repeatable and comma-separated; a value that is not
// a number fails while parsing, with a message that names the range.
type portsValue struct {
	target *[]uint
	set    bool
}

func (v *portsValue) Type() string { return "ports" }
func (v *portsValue) String() string {
	parts := make([]string, len(*v.target))
	for i, p := range *v.target {
		parts[i] = strconv.FormatUint(uint64(p), 10)
	}
	return strings.Join(parts, ",")
}

func (v *portsValue) Set(s string) error {
	if !v.set {
		*v.target = nil
		v.set = true
	}
	for _, field := range strings.Split(s, ",") {
		// the range is checked by Ports, with the other flags
		p, err := strconv.ParseUint(strings.TrimSpace(field), 10, 32)
		if err != nil {
			return plainError("want a port number 1..65535")
		}
		*v.target = append(*v.target, uint(p))
	}
	return nil
}

// AddPortFlag registers --port PORT (repeatable, or comma-separated) on cmd;
// what says what the command does with those ports, e.g. "show only
// listeners on this port".
func AddPortFlag(cmd *cobra.Command, target *[]uint, what string) {
	cmd.Flags().Var(&portsValue{target: target}, "port", what+" `PORT` (repeatable, or comma-separated)")
}

// Paths validates --path values: an absolute path, a pattern of one
// (path.Match: /run/php/*.sock), or an @abstract name.
func Paths(in []string) ([]string, error) {
	for _, p := range in {
		if err := model.ValidUnixPathPattern(p); err != nil {
			return nil, UsageErrorf("invalid --path %q: want a Unix socket's absolute path, a pattern such as /run/php/*.sock, or an @abstract name", p)
		}
	}
	return in, nil
}

// AddPathFlag registers --path PATH (repeatable, or comma-separated) on
// cmd, the Unix-socket counterpart of --port; what says what the command
// does with them.
func AddPathFlag(cmd *cobra.Command, target *[]string, what string) {
	cmd.Flags().StringSliceVar(target, "path", nil, what+" the Unix socket `PATH`: a path, a pattern such as /run/php/*.sock, or an @abstract name (repeatable, or comma-separated); with --port, both kinds are kept")
}
