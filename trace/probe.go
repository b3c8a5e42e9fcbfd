package trace

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/rlimit"
)

// Probe is what the kernel allows trace to do, found by trying it.
type Probe struct {
	// BTF: /sys/kernel/btf/vmlinux is there.
	BTF bool `json:"btf"`
	// Loaded: the verifier accepted every program (needs CAP_BPF and CAP_PERFMON).
	Loaded bool `json:"loaded"`
	// Hooks say, for each program, whether it attached.
	Hooks []HookProbe `json:"hooks"`
	// AcceptFallback is why accept() is seen at the raw sys_exit tracepoint
	// (every system call) instead of its own syscall tracepoints; empty when
	// it is not.
	AcceptFallback string `json:"accept_fallback,omitempty"`
	// ListenOverflowReason is SKB_DROP_REASON_TCP_LISTEN_OVERFLOW's value
	// in this kernel, -1 when it has none (ACK-time overflows not seen).
	ListenOverflowReason int64 `json:"listen_overflow_reason"`
	// Error is why trace cannot run here; empty when it can.
	Error string `json:"error,omitempty"`
}

// HookProbe is one program's attach result.
type HookProbe struct {
	Hook
	Attached bool   `json:"attached"`
	Error    string `json:"error,omitempty"`
}

// OK reports whether trace can run: every program attached.
func (p *Probe) OK() bool {
	if !p.BTF || !p.Loaded {
		return false
	}
	for _, h := range p.Hooks {
		if !h.Attached {
			return false
		}
	}
	return true
}

// Check tries each step Start takes, attaching every program once and
// detaching it at once, and reports each result. The error it returns is
// ErrNoBTF or ErrNoPermission, or nil when the failures (if any) are in Hooks.
func Check() (*Probe, error) {
	p := &Probe{ListenOverflowReason: -1}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		p.Error = ErrNoBTF.Error()
		return p, ErrNoBTF
	}
	p.BTF = true
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		p.Error = err.Error()
		return p, fmt.Errorf("%w: %v", ErrNoBTF, err)
	}
	var e *btf.Enum
	if kernel.TypeByName("skb_drop_reason", &e) == nil {
		for _, v := range e.Values {
			if v.Name == "SKB_DROP_REASON_"+ListenOverflowReason {
				p.ListenOverflowReason = int64(v.Value)
			}
		}
	}
	_ = rlimit.RemoveMemlock()
	spec, err := loadBpf()
	if err != nil {
		return p, err
	}
	if !hasUring(kernel) {
		withoutUring(spec)
	}
	var objs bpfObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
		err = loadError(err)
		p.Error = err.Error()
		if errors.Is(err, ErrNoPermission) {
			return p, err
		}
		return p, nil
	}
	defer objs.Close()
	p.Loaded = true
	progs := programsOf(&objs)
	hooks, ids, fallback := hookPlan(ModeFull, hasUring(kernel))
	if fallback != nil {
		p.AcceptFallback = fallback.Error()
	}
	for _, h := range hooks {
		hp := HookProbe{Hook: h}
		l, err := attachHook(h, progs[h.Program], ids)
		if err != nil {
			hp.Error = loadError(err).Error()
		} else {
			hp.Attached = true
			l.Close()
		}
		p.Hooks = append(p.Hooks, hp)
	}
	return p, nil
}

// programsOf maps program names to the loaded programs.
func programsOf(o *bpfObjects) map[string]*ebpf.Program {
	return map[string]*ebpf.Program{
		bpfProgBlDataReady:     o.BlDataReady,
		bpfProgBlAcceptExit:    o.BlAcceptExit,
		bpfProgBlSynack:        o.BlSynack,
		bpfProgBlKfreeSkb:      o.BlKfreeSkb,
		bpfProgBlSysExit:       o.BlSysExit,
		bpfProgBlUringSubmit:   o.BlUringSubmit,
		bpfProgBlUringComplete: o.BlUringComplete,
	}
}
