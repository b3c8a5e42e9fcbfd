package explain

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runAt(t, 0, args...)
}

// runAt runs explain as on a terminal width columns wide (0: into a pipe).
func runAt(t *testing.T, width int, args ...string) (string, error) {
	t.Helper()
	ios, _, out, _ := iostreams.Test()
	if width > 0 {
		ios.SetStdoutTTY(true)
		ios.SetTerminalWidth(width)
	}
	cmd := NewCmdExplain(&cmdutil.Factory{IOStreams: ios}, nil)
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), err
}

func TestExplainTunable(t *testing.T) {
	out, err := run(t, "tcp_max_syn_backlog")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"net.ipv4.tcp_max_syn_backlog: only with syncookies off",
		"\n  scope: per network namespace\n  type: int\n  range: 0..2147483647\n",
		"default: max(128, ehash_entries/128)",
		"tcp_syncookies=0",
		"TcpExtTCPReqQFullDrop",
		"Folklore:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain tcp_max_syn_backlog lacks %q:\n%s", want, out)
		}
	}
	// On a terminal the prose wraps at its width; in a pipe each paragraph
	// is one line.
	for _, width := range []int{60, 80, 200} {
		out, err := runAt(t, width, "tcp_max_syn_backlog")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out, "\n") {
			if len(l) > width && !strings.Contains(strings.TrimSpace(l), " ") {
				continue // one word longer than the line
			}
			if len(l) > width {
				t.Errorf("line longer than %d: %q", width, l)
			}
		}
	}
	if longest := slices.Max(lineLengths(out)); longest <= 200 {
		t.Errorf("piped, the longest line is %d columns: the prose was wrapped", longest)
	}
}

func lineLengths(s string) []int {
	var n []int
	for _, l := range strings.Split(s, "\n") {
		n = append(n, len(l))
	}
	return n
}

func TestExplainCounterJSON(t *testing.T) {
	out, err := run(t, "TcpExtListenOverflows", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name string   `json:"name"`
		Kind string   `json:"kind"`
		Text []string `json:"text"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if diff := cmp.Diff([]string{"TcpExtListenOverflows", "counter"}, []string{got.Name, got.Kind}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(got.Text) == 0 || !strings.Contains(got.Text[0], "tcp_conn_request") {
		t.Errorf("text = %q, want the kernel function that counts it", got.Text)
	}
}

func TestExplainList(t *testing.T) {
	out, err := run(t)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[0] != "TOPIC\tKIND\tSUMMARY" {
		t.Errorf("header = %q", lines[0])
	}
	for _, want := range []string{"syn-queue\ttopic\t", "accept-queue\ttopic\t", "net.core.somaxconn\ttunable\t", "TcpExtListenOverflows\tcounter\t", "descriptors\ttopic\t"} {
		if !strings.Contains(out, "\n"+want) {
			t.Errorf("list lacks a row starting %q", want)
		}
	}

	js, err := run(t, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []listEntry
	if err := json.Unmarshal([]byte(js), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(lines)-1 {
		t.Errorf("JSON has %d topics, table %d", len(entries), len(lines)-1)
	}
}

func TestExplainUnknown(t *testing.T) {
	out, err := run(t, "somaxcon")
	if cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Fatalf("exit code = %d (%v), want %d", cmdutil.ExitCode(err), err, cmdutil.ExitUsage)
	}
	if want := `unknown topic "somaxcon"; did you mean "somaxconn"? ('backlogctl explain' lists every topic)`; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if _, err := run(t, "zzzzzz"); err == nil || err.Error() != `unknown topic "zzzzzz" ('backlogctl explain' lists every topic)` {
		t.Errorf("a topic near nothing: error = %v, want no suggestion", err)
	}
	if out != "" {
		t.Errorf("printed %q on error", out)
	}
	if _, err := run(t, "somaxconn", "-o", "xml"); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
		t.Errorf("-o yaml: exit %d, want 2", cmdutil.ExitCode(err))
	}
}
