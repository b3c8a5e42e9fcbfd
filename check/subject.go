package check

import (
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/internal/suggest"

	"github.com/backlogctl/backlogctl/sysctl/registry"
)

// Kind says where a subject's value comes from.
type Kind string

// Subject kinds.
const (
	// KindSysctl is a registry tunable, by name or alias.
	KindSysctl Kind = "sysctl"
	// KindListener is a field of every listener (or those selected by port).
	KindListener Kind = "listener"
	// KindProcess is a field of every process owning a listener.
	KindProcess Kind = "process"
	// KindFiles is a field of the host's descriptor accounting.
	KindFiles Kind = "files"
	// KindCounter is a kernel counter under its nstat name.
	KindCounter Kind = "counter"
)

// Fields each multi-valued kind knows, in documentation order.
var (
	ListenerFields = []string{"accept_queue", "accept_queue_max", "fill", "drops", "syn_queue",
		"accept_wait_p99", "accept_wait_max", "oldest_queued", "high_water_fill", "overflows", "stalled", "connect_eagain"}
	ProcessFields = []string{"nofile_soft", "nofile_hard", "open_fds", "fd_usage", "accept_errors"}
	FilesFields   = []string{"usage", "allocated", "max", "nr_open"}
)

// Subject is what a requirement constrains.
type Subject struct {
	Kind Kind
	// Field is the sysctl's canonical name, the listener/process/files
	// field, or the counter name.
	Field string
}

// Name is the canonical spelling: "net.core.somaxconn", "listener.fill",
// "counter.TcpExtListenOverflows".
func (s Subject) Name() string {
	if s.Kind == KindSysctl {
		return s.Field
	}
	return string(s.Kind) + "." + s.Field
}

// Windowed reports whether --observe judges this subject by what happened
// during the window (an increase or a peak) rather than its value at the end.
func (s Subject) Windowed() bool {
	switch s.Kind {
	case KindCounter:
		return true
	case KindListener:
		return s.Field != "accept_queue_max"
	case KindProcess:
		return s.Traced()
	}
	return false
}

// tracedFields are the fields only a traced --observe window measures.
var tracedFields = map[string]bool{"accept_wait_p99": true, "accept_wait_max": true, "oldest_queued": true,
	"high_water_fill": true, "overflows": true, "stalled": true, "accept_errors": true, "connect_eagain": true}

// Traced reports whether the subject is measured by eBPF tracing over an
// --observe window (listener.accept_wait_p99, process.accept_errors...).
func (s Subject) Traced() bool {
	field, _, _ := strings.Cut(s.Field, ".")
	return (s.Kind == KindListener || s.Kind == KindProcess) && tracedFields[field]
}

// Errno is the errno a process.accept_errors.ERRNO subject counts, "" for
// all of them.
func (s Subject) Errno() string {
	_, errno, _ := strings.Cut(s.Field, ".")
	return errno
}

// ParseSubject resolves a subject: listener.*, process.*, files.*, counter.*,
// or any sysctl registry name or alias.
func ParseSubject(name string) (Subject, error) {
	kind, field, dotted := strings.Cut(name, ".")
	if dotted {
		switch Kind(kind) {
		case KindListener:
			return fieldSubject(KindListener, field, ListenerFields)
		case KindProcess:
			if errno, ok := strings.CutPrefix(field, "accept_errors."); ok {
				if errno == "" || strings.Trim(errno, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" || errno[0] != 'E' {
					return Subject{}, fmt.Errorf("process.accept_errors.%s: want an errno name like EMFILE", errno)
				}
				return Subject{Kind: KindProcess, Field: field}, nil
			}
			return fieldSubject(KindProcess, field, ProcessFields)
		case KindFiles:
			return fieldSubject(KindFiles, field, FilesFields)
		case KindCounter:
			if field == "" || strings.Trim(field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != "" {
				return Subject{}, fmt.Errorf("counter name %q is not an nstat name like TcpExtListenOverflows", field)
			}
			return Subject{Kind: KindCounter, Field: field}, nil
		}
	}
	if k, ok := registry.Lookup(name); ok {
		return Subject{Kind: KindSysctl, Field: k.Name}, nil
	}
	return Subject{}, fmt.Errorf("unknown subject %q: want a sysctl name or alias (see 'backlogctl inspect'), or listener.*, process.*, files.*, counter.*%s", name, suggest.DidYouMean(name, SubjectNames()))
}

func fieldSubject(kind Kind, field string, known []string) (Subject, error) {
	for _, f := range known {
		if f == field {
			return Subject{Kind: kind, Field: field}, nil
		}
	}
	return Subject{}, fmt.Errorf("unknown %s field %q (want one of %s)%s", kind, field, strings.Join(known, ", "), suggest.DidYouMean(field, known))
}

// SubjectNames are every subject but counters: the sysctl names and
// aliases, then KIND.FIELD for each field of the other kinds (for "did you
// mean" and shell completion).
func SubjectNames() []string {
	names := registry.Names()
	for _, k := range []struct {
		kind   Kind
		fields []string
	}{{KindListener, ListenerFields}, {KindProcess, ProcessFields}, {KindFiles, FilesFields}} {
		for _, f := range k.fields {
			names = append(names, string(k.kind)+"."+f)
		}
	}
	return names
}
