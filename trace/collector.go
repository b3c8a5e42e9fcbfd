package trace

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
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
var ErrNoPermission = errors.New("the kernel refused to load trace's eBPF programs")

// Hook is one program and the tracepoint it attaches to.
type Hook struct {
	// Program is the program's name, as bpftool prog lists it.
	Program string `json:"program"`
	// Tracepoint is where it attaches, e.g. "tp_btf/sk_data_ready".
	Tracepoint string `json:"tracepoint"`
	// ID is the kernel's program ID while attached.
	ID uint32 `json:"id,omitempty"`
}

// Mode is what trace attaches: the queue's side only, or accept() too.
type Mode string

const (
	// ModeQueue attaches the queue's hooks only (enqueues, drops, SYN-ACK
	// retransmits): no syscall tracepoint, so no cost to processes that make
	// no connections. Accepts are inferred from the queue's length: accepted
	// is exact, waits are bounded, accept() errors are not seen.
	ModeQueue Mode = "queue"
	// ModeFull adds accept()'s and io_uring's completions: exact waits,
	// accept errors by process and errno, the accepting process.
	ModeFull Mode = "full"
)

// ParseMode reads a --trace-mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeQueue, ModeFull:
		return m, nil
	}
	return "", fmt.Errorf("want %s or %s", ModeQueue, ModeFull)
}

// QueueHooks are queue mode's programs, in attach order.
var QueueHooks = []Hook{
	{Program: bpfProgBlDataReady, Tracepoint: "tp_btf/sk_data_ready"},
	{Program: bpfProgBlSynack, Tracepoint: "tp_btf/tcp_retransmit_synack"},
	{Program: bpfProgBlKfreeSkb, Tracepoint: "tp_btf/kfree_skb"},
}

// Hooks are full mode's programs in attach order: the queue's, io_uring's
// submissions and completions (IORING_OP_ACCEPT), accept() and accept4()
// at their own syscall tracepoints, which run only for those calls, and
// connect()'s entry and exit (ConnectHooks).
var Hooks = append(append(slices.Clone(QueueHooks),
	Hook{Program: bpfProgBlUringSubmit, Tracepoint: "tp_btf/io_uring_submit_req"},
	Hook{Program: bpfProgBlUringComplete, Tracepoint: "tp_btf/io_uring_complete"},
	Hook{Program: bpfProgBlAcceptExit, Tracepoint: "tracepoint/syscalls/sys_exit_accept4"},
	Hook{Program: bpfProgBlAcceptExit, Tracepoint: "tracepoint/syscalls/sys_exit_accept"}),
	ConnectHooks...)

// ConnectHooks see connect() to Unix listeners (full mode): its entry, to
// time a blocking connect that sleeps on a full queue until its enqueue,
// and its exit, to count the EAGAIN refusals of a full one. They run for
// connect() calls only; for anything but a Unix stream or seqpacket
// socket they return after looking up the descriptor's socket.
var ConnectHooks = []Hook{connectEnterHook,
	{Program: bpfProgBlConnectExit, Tracepoint: "tracepoint/syscalls/sys_exit_connect"}}

// StartHooks are what Start attaches in full mode: Hooks but
// connectEnterHook, which a read attaches later.
var StartHooks = slices.DeleteFunc(slices.Clone(Hooks), func(h Hook) bool { return h == connectEnterHook })

// connectEnterHook is attached by Snapshot, not Start: once a read finds a
// Unix listener full (a blocking connect can only wait on a full queue).
// Enabling a syscall's entry tracepoint sends every system call of every
// process through the entry tracepoint's probe (+5 ns each, measured with
// dd in docs/BENCHMARKS-trace.md), where the exit tracepoints accept()
// already enabled cost connect()'s exit nothing more; so that cost is paid
// only on hosts where a Unix listener fills, from the first read that saw it.
var connectEnterHook = Hook{Program: bpfProgBlConnectEnter, Tracepoint: "tracepoint/syscalls/sys_enter_connect"}

// hooksOf are mode's programs.
func hooksOf(m Mode) []Hook {
	if m == ModeQueue {
		return QueueHooks
	}
	return Hooks
}

// FallbackAcceptHook replaces the syscall tracepoints of Hooks where their
// IDs cannot be read from tracefs (not mounted, and no CAP_SYS_ADMIN to
// mount it privately): the raw sys_exit tracepoint, where a program runs at
// every system call's exit on the host and returns at once unless it is an
// accept or a failed connect (refusals are counted; blocking connects
// that slept are not seen, for want of connect()'s entry).
var FallbackAcceptHook = Hook{Program: bpfProgBlSysExit, Tracepoint: "tp_btf/sys_exit"}

// uringHook reports whether h is one of io_uring's.
func uringHook(h Hook) bool {
	return h.Program == bpfProgBlUringSubmit || h.Program == bpfProgBlUringComplete
}

// hasUring reports whether the kernel has io_uring's completion tracepoint.
func hasUring(kernel *btf.Spec) bool {
	var t *btf.Typedef
	return kernel.TypeByName("btf_trace_io_uring_complete", &t) == nil
}

// withoutUring makes spec's io_uring programs return at once on a hook that
// exists, for a kernel without io_uring, where they would not load (and
// hookPlan does not attach them).
func withoutUring(spec *ebpf.CollectionSpec) {
	for _, name := range []string{bpfProgBlUringSubmit, bpfProgBlUringComplete} {
		p := spec.Programs[name]
		p.AttachTo = "sk_data_ready"
		p.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
	}
}

// hookPlan is what Start attaches in mode m: its hooks (io_uring's only if
// uring), or with FallbackAcceptHook for the syscall tracepoints, with
// fallback saying why.
func hookPlan(m Mode, uring bool) (hooks []Hook, ids map[string]uint64, fallback error) {
	want := slices.DeleteFunc(slices.Clone(hooksOf(m)), func(h Hook) bool { return !uring && uringHook(h) })
	ids, err := tracepointIDs(want)
	if err == nil {
		return want, ids, nil
	}
	for _, h := range want {
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
	// table is the listeners array mapped into this process, nil where
	// the kernel does not map it (readListeners then looks it up).
	table []byte
	// tableSlots is the listener table's size.
	tableSlots int
	// memory is Memory, read at Start.
	memory uint64
	mode   Mode
	// enterPending is connectEnterHook while it waits to be attached, with
	// its tracepoint's ID (ids); enterSince is when it was.
	enterPending *Hook
	ids          map[string]uint64
	enterSince   time.Time
}

// Mode is what the collector attached.
func (c *Collector) Mode() Mode { return c.mode }

// Options shape what Start loads.
type Options struct {
	// Listeners is how many listeners the listener table is sized for
	// (ListenerSlotsFor): the callers pass the listeners found at start,
	// with ListenerHeadroom, or more when asked to. A listener that finds
	// no slot is reported in Evidence.Untraced, never silently.
	Listeners int
	// Netns, when not empty, are the only network namespaces (by inode)
	// whose listeners are traced: the programs return at once for others,
	// and their listeners take no slot.
	Netns []uint64
	// Mode is what to attach; "" is ModeFull.
	Mode Mode
	// slots, in tests, is the table's size, overriding Listeners.
	slots int
}

// Start loads the programs and attaches them. On any error everything
// loaded so far is closed again.
func Start(o Options) (c *Collector, err error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, ErrNoBTF
	}
	if len(o.Netns) > MaxNetnsFilter {
		return nil, fmt.Errorf("trace can be limited to at most %d network namespaces, not %d: trace them all instead", MaxNetnsFilter, len(o.Netns))
	}
	// Kernels before 5.11 charge map memory to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBTF, err)
	}
	c = &Collector{reasons: dropReasons(kernel), tableSlots: ListenerSlotsFor(o.Listeners)}
	if o.slots > 0 {
		c.tableSlots = o.slots
	}
	if o.Mode == "" {
		o.Mode = ModeFull
	}
	c.mode = o.Mode
	spec, err := sizedSpec(c.tableSlots, o.Netns, o.Mode)
	if err != nil {
		return nil, err
	}
	uring := hasUring(kernel)
	if !uring {
		withoutUring(spec)
	}
	if err := spec.LoadAndAssign(&c.objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
		return nil, loadError(err)
	}
	defer func() {
		if err != nil {
			c.Close()
			c = nil
		}
	}()
	for _, ns := range o.Netns {
		if err := c.objs.NetnsFilter.Put(uint32(ns), uint8(1)); err != nil {
			return nil, fmt.Errorf("limiting trace to network namespace %d: %w", ns, err)
		}
	}
	hooks, ids, _ := hookPlan(o.Mode, uring)
	c.start, c.startMono = time.Now(), monotonicNow()
	c.epoch, c.epochStart = firstEpoch, c.start
	for _, h := range hooks {
		if h == connectEnterHook {
			c.enterPending, c.ids = &h, ids
			continue
		}
		if err := c.attach(h, ids); err != nil {
			return nil, err
		}
	}
	c.memory = c.memlock()
	return c, nil
}

// attach attaches h's program where h says, and records the link.
func (c *Collector) attach(h Hook, ids map[string]uint64) error {
	p := programsOf(&c.objs)[h.Program]
	l, err := attachHook(h, p, ids)
	if err != nil {
		return fmt.Errorf("attaching %s to %s: %w", h.Program, h.Tracepoint, loadError(err))
	}
	c.links = append(c.links, l)
	if info, err := p.Info(); err == nil {
		if id, ok := info.ID(); ok {
			h.ID = uint32(id)
		}
	}
	c.hooks = append(c.hooks, h)
	return nil
}

// attachConnectEnter attaches connect()'s entry program the first time a
// read (ev) finds a Unix listener full or a connect() refused, and says
// since when blocking connects are timed (zero: not yet). A failure to
// attach leaves them untimed; it is not retried.
func (c *Collector) attachConnectEnter(ev *Evidence) {
	if c.enterPending != nil {
		full := len(ev.ConnectRefusals) > 0
		for _, le := range ev.Listeners {
			full = full || le.Unix && le.Filled()
		}
		if full {
			h := *c.enterPending
			c.enterPending = nil
			if c.attach(h, c.ids) == nil {
				c.enterSince = ev.Time
			}
		}
	}
	ev.ConnectBlockedSince = c.enterSince
}

// sizedSpec is the programs' spec with a listener table of slots, and
// limited to the network namespaces netns when there are any.
func sizedSpec(slots int, netns []uint64, mode Mode) (*ebpf.CollectionSpec, error) {
	filter := len(netns) > 0
	spec, err := loadBpf()
	if err != nil {
		return nil, err
	}
	spec.Maps[bpfMapListeners].MaxEntries = uint32(slots)
	// Mapped into this process, so that a read copies the slots in use
	// only (readListeners), not the whole table through a system call.
	spec.Maps[bpfMapListeners].Flags |= unix.BPF_F_MMAPABLE
	spec.Maps[bpfMapUntraced].MaxEntries = uint32(slots)
	spec.Maps[bpfMapDrops].MaxEntries = uint32(ListenerDropKeys(slots))
	if err := spec.Variables[bpfVarListenerSlots].Set(uint32(slots)); err != nil {
		return nil, fmt.Errorf("sizing the listener table: %w", err)
	}
	if filter {
		if err := spec.Variables[bpfVarFilterNetns].Set(uint32(len(netns))); err != nil {
			return nil, fmt.Errorf("limiting trace to namespaces: %w", err)
		}
		var inline [netnsInline]uint32
		for i := range min(len(netns), netnsInline) {
			inline[i] = uint32(netns[i])
		}
		if err := spec.Variables[bpfVarNetnsInline].Set(inline); err != nil {
			return nil, fmt.Errorf("limiting trace to namespaces: %w", err)
		}
	}
	if mode == ModeQueue {
		if err := spec.Variables[bpfVarQueueMode].Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("queue mode: %w", err)
		}
	}
	return spec, nil
}

// ListenerSlots is the listener table's size.
func (c *Collector) ListenerSlots() int { return c.tableSlots }

// loadError maps a refusal to ErrNoPermission, in our words: the loader's
// own text (the map or field it was at, and its advice to programmers to
// raise RLIMIT_MEMLOCK) says nothing an operator can act on; the errno does.
func loadError(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %s", ErrNoPermission, capabilityNote())
	}
	return err
}

// Close detaches and unloads everything. It may be called more than once.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	c.links = nil
	if c.table != nil {
		// The mapping holds the map: unmapped, it is freed with the rest.
		errs = append(errs, unix.Munmap(c.table))
		c.table, c.slots = nil, nil
	}
	errs = append(errs, c.objs.Close())
	c.objs = bpfObjects{}
	return errors.Join(errs...)
}

// Hooks are the attached programs with their IDs.
func (c *Collector) Hooks() []Hook {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hooks)
}

// Since is when the programs were attached: Evidence counts from then.
func (c *Collector) Since() time.Time { return c.start }

// Memory is what the kernel charges for the maps and programs (memlock), in
// bytes: read once, when they were loaded. Every map is preallocated and the
// programs do not change, so the figure does not either; reading it again
// at each report (a program's info carries its instructions) was a fifth
// of an idle tracer's CPU.
func (c *Collector) Memory() uint64 { return c.memory }

// memlock asks the kernel what the maps and programs cost now.
func (c *Collector) memlock() uint64 {
	var total uint64
	for _, m := range []*ebpf.Map{c.objs.Listeners, c.objs.Drops, c.objs.AcceptErrors, c.objs.Ring,
		c.objs.Untraced, c.objs.UntracedEvents, c.objs.NetnsFilter, c.objs.UringAccepts,
		c.objs.Connects, c.objs.UnixBlocked, c.objs.ConnectRefusals} {
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
	names := map[uint32]string{dropDeferAccept: DeferAcceptReason, dropCookieOverflow: ListenOverflowReason}
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
