// Package check evaluates requirements ("somaxconn>=4096",
// "listener.fill<=0.8", "counter.TcpExtListenOverflows==0") against what a
// host shows: expressions and policy files are parsed here, observations
// (model.Observation: one snapshot, or a window of samples) come from
// collect, and Evaluate judges them without I/O.
package check

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// Op is a comparison operator.
type Op string

// The operators an expression may use.
const (
	OpGE Op = ">="
	OpLE Op = "<="
	OpGT Op = ">"
	OpLT Op = "<"
	OpEQ Op = "=="
	OpNE Op = "!="
)

// holds reports whether "cmp(observed, expected) op 0" is true, where c is
// observed.Cmp(expected).
func (o Op) holds(c int) bool {
	switch o {
	case OpGE:
		return c >= 0
	case OpLE:
		return c <= 0
	case OpGT:
		return c > 0
	case OpLT:
		return c < 0
	case OpEQ:
		return c == 0
	case OpNE:
		return c != 0
	}
	return false
}

// ErrBadExpr reports an expression that does not parse.
var ErrBadExpr = errors.New("invalid requirement")

// Expr is one parsed requirement expression: SUBJECT OP VALUE.
type Expr struct {
	Subject Subject
	Op      Op
	// Value is the expected value, exact (0.8 is 4/5, not a float).
	Value *big.Rat
	// ValueText is the value as written.
	ValueText string
}

// String is the canonical form, e.g. "net.core.somaxconn >= 4096".
func (e Expr) String() string {
	return fmt.Sprintf("%s %s %s", e.Subject.Name(), e.Op, e.ValueText)
}

// operators lists two-character operators first, so ">=" is not read as ">".
var operators = []Op{OpGE, OpLE, OpEQ, OpNE, OpGT, OpLT}

// opChars are the characters operators are made of.
const opChars = "<>=!"

// ParseExpr parses "SUBJECT OP VALUE"; spaces around the operator are allowed.
func ParseExpr(s string) (Expr, error) {
	text := strings.TrimSpace(s)
	i := strings.IndexAny(text, opChars)
	if i < 0 {
		return Expr{}, fmt.Errorf("%w %q: no operator (want SUBJECT OP VALUE, OP one of >= <= > < == !=)", ErrBadExpr, s)
	}
	subject := strings.TrimSpace(text[:i])
	rest := text[i:]
	var op Op
	for _, o := range operators {
		if strings.HasPrefix(rest, string(o)) {
			op = o
			break
		}
	}
	// The whole run of operator characters must be one operator: "=", "=>",
	// "<>", ">==" are rejected rather than read as a partial match.
	run := len(rest) - len(strings.TrimLeft(rest, opChars))
	if op == "" || run != len(op) {
		return Expr{}, fmt.Errorf("%w %q: unknown operator %q (want one of >= <= > < == !=)", ErrBadExpr, s, rest[:run])
	}
	valueText := strings.TrimSpace(rest[len(op):])
	if subject == "" {
		return Expr{}, fmt.Errorf("%w %q: no subject before %s", ErrBadExpr, s, op)
	}
	if valueText == "" {
		return Expr{}, fmt.Errorf("%w %q: no value after %s", ErrBadExpr, s, op)
	}
	subj, err := ParseSubject(subject)
	if err != nil {
		return Expr{}, fmt.Errorf("%w %q: %v", ErrBadExpr, s, err)
	}
	value, err := parseValue(subj, valueText)
	if err != nil {
		return Expr{}, fmt.Errorf("%w %q: %v", ErrBadExpr, s, err)
	}
	return Expr{Subject: subj, Op: op, Value: value, ValueText: valueText}, nil
}

// parseValue reads a decimal number exactly; "unlimited" is accepted for
// descriptor limits (RLIM_INFINITY).
func parseValue(subj Subject, text string) (*big.Rat, error) {
	if text == "unlimited" {
		if subj.Kind == KindProcess && (subj.Field == "nofile_soft" || subj.Field == "nofile_hard") {
			return new(big.Rat).SetUint64(^uint64(0)), nil
		}
		return nil, fmt.Errorf(`"unlimited" applies only to process.nofile_soft and process.nofile_hard`)
	}
	// Plain decimals only: an exponent ("1e999999999") would make big.Rat
	// build an enormous number.
	if len(text) > 40 || strings.Trim(text, "0123456789.-+") != "" {
		return nil, fmt.Errorf("value %q is not a number (want a decimal like 4096 or 0.8)", text)
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return nil, fmt.Errorf("value %q is not a number", text)
	}
	return r, nil
}
