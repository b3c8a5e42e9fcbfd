package trace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrNoBTF: the kernel exposes no BTF (/sys/kernel/btf/vmlinux), which
// tp_btf programs and CO-RE need.
var ErrNoBTF = errors.New("the kernel has no BTF (/sys/kernel/btf/vmlinux); trace needs a kernel built with CONFIG_DEBUG_INFO_BTF")

// ErrNoPermission: loading programs was refused (CAP_BPF and CAP_PERFMON,
// or root where kernel.unprivileged_bpf_disabled is set, are needed).
var ErrNoPermission = errors.New("loading eBPF programs was refused: trace needs CAP_BPF and CAP_PERFMON (or root)")

// Hook is one program and the tracepoint it attaches to.
type Hook struct {
	// Program is the program's name, as bpftool prog lists it.
	Program string `json:"program"`
	// Tracepoint is where it attaches, e.g. "tp_btf/sk_data_ready".
	Tracepoint string `json:"tracepoint"`
	// ID is the kernel's program ID while attached.
	ID uint32 `json:"id,omitempty"`
}

// Hooks are the programs in attach order. accept() and accept4() are seen
// at their own syscall tracepoints, which run only for those calls.
var Hooks = []Hook{
	{Program: bpfProgBlDataReady, Tracepoint: "tp_btf/sk_data_ready"},
	{Program: bpfProgBlSynack, Tracepoint: "tp_btf/tcp_retransmit_synack"},
	{Program: bpfProgBlKfreeSkb, Tracepoint: "tp_btf/kfree_skb"},
	{Program: bpfProgBlAcceptExit, Tracepoint: "tracepoint/syscalls/sys_exit_accept4"},
	{Program: bpfProgBlAcceptExit, Tracepoint: "tracepoint/syscalls/sys_exit_accept"},
}

// FallbackAcceptHook replaces the syscall tracepoints of Hooks where their
// IDs cannot be read from tracefs (not mounted, and no CAP_SYS_ADMIN to
// mount it privately): the raw sys_exit tracepoint, where a program runs at
// every system call's exit on the host and returns at once unless it is an
// accept.
var FallbackAcceptHook = Hook{Program: bpfProgBlSysExit, Tracepoint: "tp_btf/sys_exit"}

// hookPlan is what Start attaches: Hooks, or Hooks with FallbackAcceptHook
// for the syscall tracepoints, with fallback saying why.
func hookPlan() (hooks []Hook, ids map[string]uint64, fallback error) {
	ids, err := tracepointIDs(Hooks)
	if err == nil {
		return Hooks, ids, nil
	}
	for _, h := range Hooks {
		if _, _, classic := classicTracepoint(h.Tracepoint); !classic {
			hooks = append(hooks, h)
		}
	}
	return append(hooks, FallbackAcceptHook), nil, err
}

// attachHook attaches p where h says.
func attachHook(h Hook, p *ebpf.Program, ids map[string]uint64) (io.Closer, error) {
	if g, n, classic := classicTracepoint(h.Tracepoint); classic {
		id, ok := ids[g+"/"+n]
		if !ok {
			return nil, fmt.Errorf("no tracepoint id for %s/%s", g, n)
		}
		return attachTracepointID(p, id)
	}
	return link.AttachTracing(link.TracingOptions{Program: p})
}

// Collector owns the loaded programs, their links and maps.
type Collector struct {
	objs  bpfObjects
	links []io.Closer
	hooks []Hook
	// reasons names skb_drop_reason values, read from the kernel's BTF.
	reasons map[uint32]string
	// start is when the programs were attached, by the wall and the
	// monotonic clock (bpf_ktime_get_ns).
	start     time.Time
	startMono uint64

	// mu serializes Snapshots: each closes the epoch (the interval) the
	// programs count per-interval high waters in, and reads its slots
	// before the next one can reopen them. epoch is the open epoch,
	// cur_epoch in the programs; epochStart when it was opened.
	mu         sync.Mutex
	epoch      uint32
	epochStart time.Time
	// slots and slotKeys are reused by each Snapshot's read of the
	// listeners array.
	slots    []bpfListenerStats
	slotKeys []uint32
}

// Start loads the programs and attaches them. On any error everything
// loaded so far is closed again.
func Start() (c *Collector, err error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, ErrNoBTF
	}
	// Kernels before 5.11 charge map memory to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	spec, err := loadBpf()
	if err != nil {
		return nil, err
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBTF, err)
	}
	c = &Collector{reasons: dropReasons(kernel)}
	if err := spec.LoadAndAssign(&c.objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
		return nil, loadError(err)
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	progs := programsOf(&c.objs)
	hooks, ids, _ := hookPlan()
	c.start, c.startMono = time.Now(), monotonicNow()
	c.epoch, c.epochStart = firstEpoch, c.start
	for _, h := range hooks {
		p := progs[h.Program]
		l, err := attachHook(h, p, ids)
		if err != nil {
			return nil, fmt.Errorf("attaching %s to %s: %w", h.Program, h.Tracepoint, loadError(err))
		}
		c.links = append(c.links, l)
		if info, err := p.Info(); err == nil {
			if id, ok := info.ID(); ok {
				h.ID = uint32(id)
			}
		}
		c.hooks = append(c.hooks, h)
	}
	return c, nil
}

// loadError maps a refusal to ErrNoPermission, in our words: the loader's
// own text (the map or field it was at, and its advice to programmers to
// raise RLIMIT_MEMLOCK) says nothing an operator can act on; the errno does.
func loadError(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return fmt.Errorf("%w (%s)", ErrNoPermission, errno.Error())
		}
		return ErrNoPermission
	}
	return err
}

// Close detaches and unloads everything. It may be called more than once.
func (c *Collector) Close() error {
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	errs = append(errs, c.objs.Close())
	c.objs = bpfObjects{}
	return errors.Join(errs...)
}

// Hooks are the attached programs with their IDs.
func (c *Collector) Hooks() []Hook { return c.hooks }

// Since is when the programs were attached: Evidence counts from then.
func (c *Collector) Since() time.Time { return c.start }

// Memory is what the kernel charges for the maps and programs (memlock), in bytes.
func (c *Collector) Memory() uint64 {
	var total uint64
	for _, m := range []*ebpf.Map{c.objs.Listeners, c.objs.Drops, c.objs.AcceptErrors, c.objs.Ring, c.objs.Zero} {
		if m == nil {
			continue
		}
		if info, err := m.Info(); err == nil {
			if n, ok := info.Memlock(); ok {
				total += n
			}
		}
	}
	for _, p := range programsOf(&c.objs) {
		if p == nil {
			continue
		}
		if info, err := p.Info(); err == nil {
			if n, ok := info.Memlock(); ok {
				total += n
			}
		}
	}
	return total
}

// dropReasons names enum skb_drop_reason's values without the
// SKB_DROP_REASON_ prefix; empty when the kernel has no such enum.
func dropReasons(kernel *btf.Spec) map[uint32]string {
	names := map[uint32]string{dropDeferAccept: DeferAcceptReason}
	var e *btf.Enum
	if err := kernel.TypeByName("skb_drop_reason", &e); err != nil {
		return names
	}
	for _, v := range e.Values {
		names[uint32(v.Value)] = strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
	}
	return names
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds, bpf_ktime_get_ns's clock.
func monotonicNow() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
