package rlimit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// Request is a wanted RLIMIT_NOFILE as written "SOFT[:HARD]". Without HARD
// the hard limit is left as it is (or, for a systemd drop-in, equals SOFT).
type Request struct {
	Soft uint64
	// Hard is nil when only SOFT was given.
	Hard *uint64
}

// ParseRequest parses "SOFT" or "SOFT:HARD": decimal numbers, soft at least 1.
func ParseRequest(s string) (Request, error) {
	softText, hardText, hasHard := strings.Cut(s, ":")
	soft, err := parseCount("SOFT", softText)
	if err != nil {
		return Request{}, err
	}
	if soft == 0 {
		return Request{}, fmt.Errorf("SOFT is 0: the process could not open any descriptor, accept() included")
	}
	r := Request{Soft: soft}
	if hasHard {
		hard, err := parseCount("HARD", hardText)
		if err != nil {
			return Request{}, err
		}
		r.Hard = &hard
	}
	return r, nil
}

func parseCount(what, s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("%s is empty: want SOFT or SOFT:HARD, e.g. 65536:65536", what)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a non-negative integer", what, s)
	}
	return v, nil
}

// Resolve turns the request into the limits to set on a process whose hard
// limit is currentHard.
func (r Request) Resolve(currentHard uint64) model.Nofile {
	if r.Hard != nil {
		return model.Nofile{Soft: r.Soft, Hard: *r.Hard}
	}
	return model.Nofile{Soft: r.Soft, Hard: currentHard}
}

// Persistent is what a systemd drop-in should say: LimitNOFILE=SOFT alone
// means SOFT:SOFT to systemd, so it is written out in full.
func (r Request) Persistent() model.Nofile {
	return r.Resolve(r.Soft)
}

// SoftAboveHardError refuses a soft limit above the hard one.
type SoftAboveHardError struct{ Nofile model.Nofile }

func (e *SoftAboveHardError) Error() string {
	return fmt.Sprintf("soft limit %d is above the hard limit %d: the soft limit may not exceed the hard one",
		e.Nofile.Soft, e.Nofile.Hard)
}

// AboveNrOpenError refuses a hard limit above fs.nr_open.
type AboveNrOpenError struct {
	Hard   uint64
	NrOpen int64
}

func (e *AboveNrOpenError) Error() string {
	return fmt.Sprintf("hard limit %d is above fs.nr_open %d: the kernel refuses it even for root (raise fs.nr_open first)",
		e.Hard, e.NrOpen)
}

// Check refuses limits the kernel would: soft above hard (do_prlimit: EINVAL)
// and a hard limit above fs.nr_open (do_prlimit: EPERM, even with
// CAP_SYS_RESOURCE). nrOpen <= 0 means unknown and skips that check.
func Check(n model.Nofile, nrOpen int64) error {
	if n.Soft > n.Hard {
		return &SoftAboveHardError{Nofile: n}
	}
	if nrOpen > 0 && n.Hard > uint64(nrOpen) {
		return &AboveNrOpenError{Hard: n.Hard, NrOpen: nrOpen}
	}
	return nil
}
