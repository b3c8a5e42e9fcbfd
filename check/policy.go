package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/userfile"
	"github.com/backlogctl/backlogctl/model"
)

// ErrBadPolicy reports a policy file that cannot be used.
var ErrBadPolicy = errors.New("invalid policy")

// Policy is a parsed policy file. Its YAML schema (docs/REFERENCE.md, "Policy file"):
//
//	ports: [443, 8443]        # optional: listener.* and process.* look only here
//	paths: [/run/php/*.sock]  # optional: and at these Unix listeners
//	observe: 60s              # optional: judge over a window (as --observe)
//	sample_interval: 100ms    # optional: queue sampling period in the window
//	missing: error            # optional: error | pass | fail (as --missing)
//	profile: default          # optional: every target of a tune profile
//	require:                  # expressions, as --require
//	  - somaxconn >= 4096
type Policy struct {
	File           string
	Ports          []uint16
	Paths          []string
	Observe        time.Duration
	SampleInterval time.Duration
	// Missing is empty when the file does not set it.
	Missing      Missing
	Profile      *advise.Profile
	Requirements []Requirement
}

// policyFile is the YAML document; each field type checks its own value and
// reports the line it is on.
type policyFile struct {
	Ports          []policyPort    `yaml:"ports"`
	Paths          []policyPath    `yaml:"paths"`
	Observe        *policyDuration `yaml:"observe"`
	SampleInterval *policyDuration `yaml:"sample_interval"`
	Missing        *policyMissing  `yaml:"missing"`
	Profile        *policyProfile  `yaml:"profile"`
	Require        []policyExpr    `yaml:"require"`
}

// MaxPolicySize caps a policy file: a real one is a few KiB.
const MaxPolicySize = 1 << 20

// LoadPolicy reads and parses a policy file. Only a regular file of at most
// MaxPolicySize is read: /dev/zero or a FIFO is refused at once.
func LoadPolicy(path string) (*Policy, error) {
	data, err := userfile.Read(path, MaxPolicySize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPolicy, err)
	}
	return ParsePolicy(path, data)
}

// ParsePolicy parses a policy document; name is used in messages. Unknown
// fields, malformed YAML, bad values and a policy that requires nothing are
// errors naming the file and line, quoting at most a short excerpt of the
// offending text, never the file's content.
func ParsePolicy(name string, data []byte) (*Policy, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc policyFile
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w %s: the file is empty; a policy must require something", ErrBadPolicy, name)
		}
		return nil, fmt.Errorf("%w %s: %s", ErrBadPolicy, name, yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w %s: line %d: only one YAML document is allowed", ErrBadPolicy, name, extra.Line)
	}
	p := &Policy{File: name}
	for _, port := range doc.Ports {
		p.Ports = append(p.Ports, uint16(port))
	}
	for _, path := range doc.Paths {
		p.Paths = append(p.Paths, string(path))
	}
	if doc.Observe != nil {
		p.Observe = time.Duration(*doc.Observe)
	}
	if doc.SampleInterval != nil {
		p.SampleInterval = time.Duration(*doc.SampleInterval)
		if p.SampleInterval <= 0 {
			return nil, fmt.Errorf("%w %s: sample_interval must be positive", ErrBadPolicy, name)
		}
	}
	if doc.Missing != nil {
		p.Missing = Missing(*doc.Missing)
	}
	if doc.Profile != nil {
		prof := advise.Profile(*doc.Profile)
		p.Profile = &prof
	}
	for _, e := range doc.Require {
		p.Requirements = append(p.Requirements, Requirement{Expr: e.expr, Source: fmt.Sprintf("%s:%d", name, e.line)})
	}
	if len(p.Requirements) == 0 && p.Profile == nil {
		return nil, fmt.Errorf("%w %s: nothing to check: give require entries or a profile", ErrBadPolicy, name)
	}
	return p, nil
}

// yamlMessage turns yaml's errors into "line N: ..." and gives the first
// only, with how many more there are: a file that is not a policy (a
// symlink to /etc/shadow) has an error on every line, and its lines must not
// end up in a terminal or a CI log. Text from the file appears only as a
// short excerpt (policyExcerpt).
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	msg := typeMessage(te.Errors[0])
	if n := len(te.Errors) - 1; n == 1 {
		msg += " (and 1 more error)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and %d more errors)", n)
	}
	return msg
}

var (
	// "line 3: field foo not found in type check.policyFile"
	unknownField = regexp.MustCompile(`^(line \d+: )field (.*) not found in type check\.policyFile$`)
	// "line 1: cannot unmarshal !!str `root:$6...` into check.policyFile"
	cannotUnmarshal = regexp.MustCompile(`^(line \d+: )cannot unmarshal !!(\w+)(?: .*)? into (.+)$`)
	fieldName       = regexp.MustCompile(`^[a-z_]{1,32}$`)
	leadingWord     = regexp.MustCompile(`^[A-Za-z0-9_-]*`)
)

// policyFields are the fields a policy may have, for messages.
const policyFields = "ports, paths, observe, sample_interval, missing, profile, require"

// typeMessage rewrites one of yaml's type errors in our words: an unknown
// field is named only when it looks like a field name, and a value of the
// wrong kind is described, not quoted.
func typeMessage(m string) string {
	if g := unknownField.FindStringSubmatch(m); g != nil {
		if fieldName.MatchString(g[2]) {
			return fmt.Sprintf("%sunknown field %s (want %s)", g[1], g[2], policyFields)
		}
		// Only its leading word: the rest of a line of another kind of file
		// (a password hash after "root:") is not ours to print.
		word := leadingWord.FindString(g[2])
		return fmt.Sprintf("%snot a policy field: %s... (want %s)", g[1], strconv.Quote(word[:min(len(word), 16)]), policyFields)
	}
	if g := cannotUnmarshal.FindStringSubmatch(m); g != nil {
		want := "a value of another kind"
		switch {
		case g[3] == "check.policyFile":
			want = "a mapping of policy fields (" + policyFields + ")"
		case strings.HasPrefix(g[3], "[]"):
			want = "a list"
		}
		kind := map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true or false", "seq": "a list", "map": "a mapping", "null": "nothing"}[g[2]]
		if kind == "" {
			kind = "a value"
		}
		return fmt.Sprintf("%sfound %s where %s belongs", g[1], kind, want)
	}
	return m
}

// policyExcerpt quotes at most the first 16 characters of text from a
// policy file, for a message that must point at it without printing it.
func policyExcerpt(s string) string {
	const max = 16
	r := []rune(s)
	if len(r) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(string(r[:max])) + "..."
}

// nodeError is how a field type reports a bad value with its line.
func nodeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, args...)}}
}

// scalarField decodes one scalar value with parse; a failure names the
// field and the line. An empty field leaves the message to parse.
func scalarField[T any](n *yaml.Node, field string, parse func(string) (T, error)) (T, error) {
	var zero T
	prefix := ""
	if field != "" {
		prefix = field + ": "
	}
	if n.Kind != yaml.ScalarNode {
		return zero, nodeError(n, "%swant a single value", prefix)
	}
	v, err := parse(n.Value)
	if err != nil {
		// The parsers quote the value whole; a message quotes an excerpt.
		msg := strings.ReplaceAll(err.Error(), strconv.Quote(n.Value), policyExcerpt(n.Value))
		return zero, nodeError(n, "%s%s", prefix, msg)
	}
	return v, nil
}

type policyPort uint16

func (p *policyPort) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalarField(n, "ports", func(s string) (policyPort, error) {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 65535 {
			return 0, fmt.Errorf("%q is not a port (1..65535)", s)
		}
		return policyPort(v), nil
	})
	*p = v
	return err
}

type policyPath string

func (p *policyPath) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalarField(n, "paths", func(s string) (policyPath, error) {
		if model.ValidUnixPathPattern(s) != nil {
			return "", fmt.Errorf("%q is not a Unix socket's absolute path, a pattern such as /run/php/*.sock, or an @abstract name", s)
		}
		return policyPath(s), nil
	})
	*p = v
	return err
}

type policyDuration time.Duration

func (d *policyDuration) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalarField(n, "", func(s string) (policyDuration, error) {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%q is not a duration like 60s or 100ms", s)
		}
		return policyDuration(v), nil
	})
	*d = v
	return err
}

type policyMissing Missing

func (m *policyMissing) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalarField(n, "missing", ParseMissing)
	*m = policyMissing(v)
	return err
}

type policyProfile advise.Profile

func (p *policyProfile) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalarField(n, "profile", advise.LookupProfile)
	*p = policyProfile(v)
	return err
}

type policyExpr struct {
	expr Expr
	line int
}

func (e *policyExpr) UnmarshalYAML(n *yaml.Node) error {
	v, err := scalarField(n, "require", ParseExpr)
	*e = policyExpr{expr: v, line: n.Line}
	return err
}
