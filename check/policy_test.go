package check

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePolicy(t *testing.T) {
	doc := `# readiness for the web tier
ports: [80, 443]
paths: [/run/php/*.sock, "@app"]
observe: 60s
sample_interval: 50ms
missing: fail
profile: default
require:
  - somaxconn >= 4096
  - "listener.fill<=0.8"
  - counter.TcpExtListenOverflows == 0
`
	p, err := ParsePolicy("web.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var reqs []string
	for _, r := range p.Requirements {
		reqs = append(reqs, r.Expr.String()+" @"+r.Source)
	}
	got := struct {
		Ports    []uint16
		Paths    []string
		Observe  time.Duration
		Interval time.Duration
		Missing  Missing
		Profile  string
		Reqs     []string
	}{p.Ports, p.Paths, p.Observe, p.SampleInterval, p.Missing, p.Profile.Name, reqs}
	want := got
	want.Ports, want.Paths = []uint16{80, 443}, []string{"/run/php/*.sock", "@app"}
	want.Observe, want.Interval = 60*time.Second, 50*time.Millisecond
	want.Missing, want.Profile = MissingFail, "default"
	want.Reqs = []string{
		"net.core.somaxconn >= 4096 @web.yaml:9",
		"listener.fill <= 0.8 @web.yaml:10",
		"counter.TcpExtListenOverflows == 0 @web.yaml:11",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty file", "", "p.yaml: the file is empty"},
		{"only comments", "# nothing yet\n", "p.yaml: the file is empty"},
		{"nothing required", "ports: [80]\n", "p.yaml: nothing to check"},
		{"empty require", "require: []\n", "p.yaml: nothing to check"},
		{"malformed yaml", "require:\n  - somaxconn>=1\n bad: [\n", "p.yaml: line 2: did not find expected key"},
		{"tab indentation", "require:\n\t- somaxconn>=1\n", "p.yaml: line 2"},
		{"unknown field", "require: [somaxconn>=1]\nobserv: 60s\n", "p.yaml: line 2: unknown field observ"},
		{"bad expression", "require:\n  - somaxconn>=1\n  - somaxconn=4096\n", `p.yaml: line 3: require: invalid requirement "somaxconn=4096": unknown operator "="`},
		{"unknown subject", "require:\n  - backlog>=1\n", `p.yaml: line 2: require: invalid requirement "backlog>=1": unknown subject`},
		{"require not a list", "require: somaxconn>=1\n", "p.yaml: line 1"},
		{"require entry a map", "require:\n  - somaxconn: 1\n", "p.yaml: line 2: require: want a single value"},
		{"bad port", "ports: [0]\nrequire: [somaxconn>=1]\n", `p.yaml: line 1: ports: "0" is not a port`},
		{"port too big", "ports: [70000]\nrequire: [somaxconn>=1]\n", `p.yaml: line 1: ports: "70000" is not a port`},
		{"relative path", "paths: [php.sock]\nrequire: [somaxconn>=1]\n", `p.yaml: line 1: paths: "php.sock" is not a Unix socket's absolute path`},
		{"bad duration", "observe: 60\nrequire: [somaxconn>=1]\n", `p.yaml: line 1: "60" is not a duration`},
		{"zero interval", "sample_interval: 0s\nrequire: [somaxconn>=1]\n", "sample_interval must be positive"},
		{"bad missing", "missing: ignore\nrequire: [somaxconn>=1]\n", "p.yaml: line 1: missing: invalid missing mode"},
		{"unknown profile", "profile: turbo\n", `p.yaml: line 1: profile: unknown profile "turbo"`},
		{"two documents", "require: [somaxconn>=1]\n---\nrequire: [somaxconn>=2]\n", "p.yaml: line 2: only one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePolicy("p.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("policy accepted, want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrBadPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want ErrBadPolicy containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

// The example shipped in the repository parses.
func TestExamplePolicy(t *testing.T) {
	path := filepath.Join("..", "examples", "check-policy.yaml")
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Requirements) == 0 {
		t.Errorf("%s requires nothing", path)
	}
}

func TestLoadPolicyMissingFile(t *testing.T) {
	_, err := LoadPolicy(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, ErrBadPolicy) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error = %v, want ErrBadPolicy wrapping ErrNotExist", err)
	}
}

// A policy path the user gives is read only if it is a regular file of at
// most MaxPolicySize: /dev/zero fails at once instead of growing without end.
func TestLoadPolicyRefusesEndlessAndHugeFiles(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(huge, []byte("require: [somaxconn>=1]\n#"+strings.Repeat("x", MaxPolicySize)), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "not a regular file (a character device)",
		huge:        "file too large",
		t.TempDir(): "not a regular file (a directory)",
	} {
		_, err := LoadPolicy(path)
		if !errors.Is(err, ErrBadPolicy) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("LoadPolicy(%s) = %v; want one line saying %q", path, err, want)
		}
	}
}

// A policy path that is a symlink to a file of another kind (as to
// /etc/shadow) is refused with one line naming the file and the line, and
// none of the file's content beyond the leading word of the offending line;
// a YAML file quotes at most a short excerpt of the offending value.
func TestPolicyErrorsDoNotPrintTheFile(t *testing.T) {
	dir := t.TempDir()
	shadow := filepath.Join(dir, "shadow")
	secrets := []string{"$6$rounds=5000$s4lt$HaShHaShHaShHaSh", "$y$j9T$AnotherSecretHash", "hunter2-is-the-password"}
	content := "root:" + secrets[0] + ":19700:0:99999:7:::\n" +
		"daemon:*:19700:0:99999:7:::\n" +
		"alice:" + secrets[1] + ":19700:0:99999:7:::\n" +
		"bob: " + secrets[2] + "\n"
	if err := os.WriteFile(shadow, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink(shadow, link); err != nil {
		t.Fatal(err)
	}
	values := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(values, []byte("require:\n  - \"somaxconn = "+secrets[2]+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{link, link + `: line 1: not a policy field: "root"...`},
		{values, values + `: line 2: require: invalid requirement "somaxconn = hunt"...`},
	} {
		_, err := LoadPolicy(tc.file)
		if err == nil {
			t.Fatalf("%s accepted", tc.file)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("error %q, want one line containing %q", msg, tc.want)
		}
		for _, s := range append(secrets, "daemon", "alice", "19700", "s4lt") {
			if strings.Contains(msg, s) {
				t.Errorf("error %q prints %q from the file", msg, s)
			}
		}
	}
}
