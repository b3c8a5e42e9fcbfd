package mangen

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmd/root"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// committed is where `go generate ./...` writes the pages (cmd/gen-man).
const committed = "../../man"

func newRoot() *cobra.Command {
	ios, _, _, _ := iostreams.Test()
	return root.NewCmdRoot(&cmdutil.Factory{IOStreams: ios, Roots: hostfs.Host(), Version: "dev"})
}

// committedOptions are cmd/gen-man's defaults.
var committedOptions = Options{Version: "dev", Date: DefaultDate}

func TestManPagesUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(newRoot(), dir, committedOptions); err != nil {
		t.Fatal(err)
	}
	want := pageNames(t, dir)
	got := pageNames(t, committed)
	if !slices.Equal(want, got) {
		t.Fatalf("man/ holds %q, the command tree gives %q: run go generate ./...", got, want)
	}
	for _, name := range want {
		fresh, _ := os.ReadFile(filepath.Join(dir, name))
		old, err := os.ReadFile(filepath.Join(committed, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, old) {
			t.Errorf("man/%s is stale: run go generate ./...", name)
		}
	}
}

func pageNames(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.[17]"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	sort.Strings(out)
	return out
}

// TestEveryCommandHasACompletePage walks the tree: each available command
// has a page with the sections the issue asks for.
func TestEveryCommandHasACompletePage(t *testing.T) {
	pages, err := Pages(newRoot(), committedOptions)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c.HasParent() {
			return
		}
		n++
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		page, ok := pages[name]
		if !ok {
			t.Errorf("no page %s for %q", name, c.CommandPath())
		}
		text := string(page)
		for _, want := range []string{
			".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH EXIT STATUS", ".SH FILES", ".SH EXAMPLES", ".SH SEE ALSO",
			`\fI/var/lib/backlogctl\fP`, `\fI/etc/sysctl.d/90\-backlogctl.conf\fP`,
			`\fBss\fP(8)`, `\fBsysctl\fP(8)`, `\fBsysctl.d\fP(5)`, `\fBprlimit\fP(1)`, `\fBnstat\fP(8)`, `\fBbacklogctl\-kernel\fP(7)`,
			`.TH "` + strings.ToUpper(strings.TrimSuffix(name, ".1")) + `" "1" "2026-11-23" "backlogctl dev" "backlogctl Manual"`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if i, j := strings.Index(text, ".SH EXIT STATUS"), strings.Index(text, ".SH SEE ALSO"); i > j {
			t.Errorf("%s: EXIT STATUS after SEE ALSO", name)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
	if len(pages) != n+1 {
		t.Errorf("%d pages for %d commands + the kernel page", len(pages), n)
	}
}

func TestExitStatusFromHelp(t *testing.T) {
	got := strings.Join(exitStatus("exits with:\n  0  ok\n  2  bad\n     input\n"), "|")
	want := `.PP|exits with:|.TP|\fB0\fP|ok|.TP|\fB2\fP|bad|input`
	if got != want {
		t.Errorf("exitStatus = %q, want %q", got, want)
	}
}

func TestMarkdownSafe(t *testing.T) {
	got := markdownSafe("Text with *stars* and <angle>.\n\n  col1  value\n  col2  value\nafter")
	want := "Text with \\*stars\\* and \\<angle\\>.\n\n\n```\n  col1  value\n  col2  value\n```\n\nafter"
	if got != want {
		t.Errorf("markdownSafe =\n%q\nwant\n%q", got, want)
	}
}

func TestKernelPageSharesExplainText(t *testing.T) {
	page := string(Kernel(committedOptions))
	for _, want := range []string{
		".SH SYN QUEUE", ".SH ACCEPT QUEUE", ".SH SYNCOOKIES", ".SH DESCRIPTORS", ".SH TUNABLES", ".SH COUNTERS", ".SH FOLKLORE",
		".SS net.ipv4.tcp_max_syn_backlog", ".B TcpExtListenOverflows",
		`With syncookies on (the default) it has no effect`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("kernel page lacks %q", want)
		}
	}
}

// TestMandocLint runs mandoc's linter on the committed pages; any warning fails.
func TestMandocLint(t *testing.T) {
	if _, err := exec.LookPath("mandoc"); err != nil {
		t.Skip("mandoc not installed (scripts/test.sh installs it)")
	}
	pages, _ := filepath.Glob(filepath.Join(committed, "*.[17]"))
	if len(pages) == 0 {
		t.Fatal("no pages in man/")
	}
	out, err := exec.Command("mandoc", append([]string{"-Tlint", "-W", "warning"}, pages...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("mandoc -Tlint -W warning: %v\n%s", err, out)
	}
}

var overstrike = regexp.MustCompile(".\b")

// TestManRenders renders each page with man(1) and groff's warnings on.
func TestManRenders(t *testing.T) {
	if _, err := exec.LookPath("man"); err != nil {
		t.Skip("man not installed (scripts/test.sh installs man-db)")
	}
	for _, page := range []string{"backlogctl.1", "backlogctl-inspect.1", KernelPage} {
		cmd := exec.Command("man", "--warnings=w", "-l", filepath.Join(committed, page))
		cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=0", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("man -l %s: %v\n%s", page, err, stderr.String())
			continue
		}
		if stderr.Len() > 0 {
			t.Errorf("man -l %s warned:\n%s", page, stderr.String())
		}
		// without a terminal, man embolds by overstriking: "S\bS"
		text := overstrike.ReplaceAllString(stdout.String(), "")
		for _, want := range []string{"NAME", "SEE ALSO", "backlogctl"} {
			if !strings.Contains(text, want) {
				t.Errorf("man -l %s: no %q in the rendered page:\n%.2000s", page, want, text)
			}
		}
	}
}

// Options show the value to type, not Go's zero value: no "--port=[]",
// "--netns=\"\"" or "--quiet[=false]".
func TestOptionsShowValueNames(t *testing.T) {
	pages, err := Pages(newRoot(), committedOptions)
	if err != nil {
		t.Fatal(err)
	}
	goZero := regexp.MustCompile(`\\fP(=\[\]|=""|=|\[=false\]|\[=""\])$`)
	for name, page := range pages {
		for _, l := range strings.Split(string(page), "\n") {
			if goZero.MatchString(l) {
				t.Errorf("%s: option shows a Go zero value: %q", name, l)
			}
		}
	}
	if !bytes.Contains(pages["backlogctl-inspect.1"], []byte(`\fB\-\-port\fP=\fIPORT\fP`)) {
		t.Errorf("backlogctl-inspect.1 does not show --port=PORT")
	}
}

func TestOptionValue(t *testing.T) {
	for _, tt := range []struct{ tag, usage, want string }{
		{`\fB\-\-port\fP=[]`, `show only listeners on \fBPORT\fR (repeatable)`, `\fB\-\-port\fP=\fIPORT\fP`},
		{`\fB\-\-quiet\fP[=false]`, `print nothing`, `\fB\-\-quiet\fP`},
		{`\fB\-\-netns\fP=""`, `read \fBNAME\fR`, `\fB\-\-netns\fP=\fINAME\fP`},
		{`\fB\-\-listen\fP="127.0.0.1:9597"`, `\fBADDRESS\fR to serve`, `\fB\-\-listen\fP="127.0.0.1:9597"`},
		{`\fB\-\-rate\fP=0`, `peak new connections`, `\fB\-\-rate\fP=0`},
		{`\fB\-\-persist\fP[=""]`, `write the \fBFILE\fR`, `\fB\-\-persist\fP[=\fIFILE\fP]`},
	} {
		if got := optionValue(tt.tag, tt.usage); got != tt.want {
			t.Errorf("optionValue(%q) = %q, want %q", tt.tag, got, tt.want)
		}
	}
}
