package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/userfile"
)

// ErrBadPolicy reports a policy file that cannot be used.
var ErrBadPolicy = errors.New("invalid policy")

// Policy is a parsed policy file. Its YAML schema (README "check"):
//
//	ports: [443, 8443]        # optional: listener.* and process.* look only here
//	observe: 60s              # optional: judge over a window (as --observe)
//	sample_interval: 100ms    # optional: queue sampling period in the window
//	missing: error            # optional: error | pass | fail (as --missing)
//	profile: default          # optional: every target of a tune profile
//	require:                  # expressions, as --require
//	  - somaxconn >= 4096
type Policy struct {
	File           string
	Ports          []uint16
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
// errors naming the file and line.
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

// yamlMessage turns yaml's errors into "line N: ..." lines joined by "; ".
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			// "line 3: field foo not found in type check.policyFile"
			if field, ok := strings.CutSuffix(m, " in type check.policyFile"); ok {
				if pre, f, ok := strings.Cut(field, "field "); ok {
					m = pre + "unknown field " + strings.TrimSuffix(f, " not found")
				}
			}
			msgs = append(msgs, m)
		}
		return strings.Join(msgs, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
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
		return zero, nodeError(n, "%s%v", prefix, err)
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
