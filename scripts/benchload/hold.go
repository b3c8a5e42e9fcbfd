package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// SynRecvPort is the 127.0.0.1 listener whose final ACKs bench.sh drops with
// nftables, so the connections made to it stay half-open (SYN-RECV).
const SynRecvPort = 9999

// holdConfig is what hold opens.
type holdConfig struct {
	listeners int // listening sockets, from port base up
	conns     int // established connections, accepted and held
	pending   int // listeners left with 3 connections in their accept queue
	synRecv   int // half-open connections to SynRecvPort
	base      int // first listener port
	ready     string
	// shape is "spread" (each connection shard holds the listeners its
	// connections go to) or "one-owner" (the listener shard holds every
	// listener; connection shards borrow theirs with pidfd_getfd, accept,
	// and close their copies).
	shape string
	// targets is how many connection-target listeners the listener shard
	// opens after the others, in one-owner shape.
	targets int
}

// perShardListeners is how many listeners each connection shard adds for
// its connections to go to.
const perShardListeners = 4

// runHold opens the load in several processes, because one process may hold
// only RLIMIT_NOFILE descriptors and raising the hard limit needs
// CAP_SYS_RESOURCE: one shard holds the listeners, the others hold the
// connections and the listeners they go to. It writes the ready file when all
// are up and stops them when it is told to stop.
func runHold(args []string) error {
	var c holdConfig
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	fs.IntVar(&c.listeners, "listeners", 9000, "listening sockets to open")
	fs.IntVar(&c.conns, "conns", 40000, "established loopback connections to open and accept")
	fs.IntVar(&c.pending, "pending", 20, "listeners that keep 3 connections unaccepted")
	fs.IntVar(&c.synRecv, "synrecv", 0, "half-open connections to 127.0.0.1:9999 (needs the nft rule bench.sh adds)")
	fs.IntVar(&c.base, "base-port", 10000, "first listener port")
	fs.StringVar(&c.ready, "ready", "", "file to write when everything is open")
	fs.StringVar(&c.shape, "shape", "spread", "spread or one-owner (every listener in one process)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.shape != "spread" && c.shape != "one-owner" {
		return fmt.Errorf("hold: unknown -shape %q: want spread or one-owner", c.shape)
	}
	if c.listeners < 200 || c.conns < 0 || c.pending < 0 || c.synRecv < 0 {
		return errors.New("hold: need at least 200 listeners and non-negative counts")
	}
	budget, err := fdBudget(uint64(c.listeners + 2*c.conns + 4*c.pending + 2*c.synRecv))
	if err != nil {
		return err
	}
	perShard := (budget - 64 - perShardListeners) / 2
	shards := (c.conns + perShard - 1) / perShard
	if c.listeners+perShardListeners*shards+4*c.pending+2*c.synRecv+64 > budget {
		return fmt.Errorf("one process may hold %d descriptors, too few for %d listeners", budget, c.listeners)
	}
	lastPort := c.base + c.listeners + perShardListeners*shards
	if err := checkPortRange(lastPort); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			_ = p.Wait()
		}
	}()
	// start runs a shard and returns the words after "ready" on the line it
	// prints when its sockets are open.
	start := func(args ...string) ([]string, error) {
		cmd := exec.Command(self, append([]string{"shard"}, args...)...)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, cmd)
		line, err := bufio.NewReader(out).ReadString('\n')
		words := strings.Fields(line)
		if err != nil || len(words) == 0 || words[0] != "ready" {
			return nil, fmt.Errorf("shard %s failed before it was ready", strings.Join(args, " "))
		}
		return words[1:], nil
	}
	targets := 0
	if c.shape == "one-owner" {
		targets = perShardListeners * shards
	}
	lfds, err := start("-role", "listeners", "-listeners", strconv.Itoa(c.listeners), "-pending", strconv.Itoa(c.pending),
		"-synrecv", strconv.Itoa(c.synRecv), "-base-port", strconv.Itoa(c.base), "-targets", strconv.Itoa(targets))
	if err != nil {
		return err
	}
	left := c.conns
	for i := 0; i < shards; i++ {
		n := min(perShard, left)
		left -= n
		port := c.base + c.listeners + perShardListeners*i
		args := []string{"-role", "conns", "-conns", strconv.Itoa(n), "-base-port", strconv.Itoa(port)}
		if c.shape == "one-owner" {
			fds := strings.Join(lfds[perShardListeners*i:perShardListeners*(i+1)], ",")
			args = append(args, "-owner-pid", strconv.Itoa(procs[0].Process.Pid), "-owner-fds", fds)
		}
		if _, err := start(args...); err != nil {
			return err
		}
	}
	if c.ready != "" {
		msg := fmt.Sprintf("listeners=%d conns=%d pending=%d synrecv=%d processes=%d shape=%s\n",
			c.listeners+perShardListeners*shards+min(c.synRecv, 1), c.conns, 3*c.pending, c.synRecv, 1+shards, c.shape)
		if err := os.WriteFile(c.ready, []byte(msg), 0o644); err != nil {
			return err
		}
	}
	waitForStop()
	return nil
}

// runShard opens one shard's sockets, says so on stdout and holds them.
func runShard(args []string) error {
	var c holdConfig
	var role, ownerFDs string
	var ownerPID int
	fs := flag.NewFlagSet("shard", flag.ContinueOnError)
	fs.StringVar(&role, "role", "", "listeners or conns")
	fs.IntVar(&c.listeners, "listeners", 0, "")
	fs.IntVar(&c.conns, "conns", 0, "")
	fs.IntVar(&c.pending, "pending", 0, "")
	fs.IntVar(&c.synRecv, "synrecv", 0, "")
	fs.IntVar(&c.base, "base-port", 0, "")
	fs.IntVar(&c.targets, "targets", 0, "")
	fs.IntVar(&ownerPID, "owner-pid", 0, "")
	fs.StringVar(&ownerFDs, "owner-fds", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := fdBudget(0); err != nil {
		return err
	}
	var err error
	var targetFDs []int
	switch role {
	case "listeners":
		targetFDs, err = openListeners(c)
	case "conns":
		if ownerPID != 0 {
			err = borrowConnections(c, ownerPID, ownerFDs)
		} else {
			err = openConnections(c)
		}
	default:
		err = fmt.Errorf("unknown shard role %q", role)
	}
	if err != nil {
		return err
	}
	fmt.Print("ready")
	for _, fd := range targetFDs {
		fmt.Printf(" %d", fd)
	}
	fmt.Println()
	waitForStop()
	return nil
}

func waitForStop() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	<-sig
}

// fdBudget raises this process's soft RLIMIT_NOFILE to its hard limit and
// returns it. total is what the whole load needs; it refuses, and says why,
// when the host's fs.file-max is too small: that is host-wide and the
// benchmark must not change it.
func fdBudget(total uint64) (int, error) {
	fileMax, err := readUint("/proc/sys/fs/file-max")
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/sys/fs/file-nr")
	if err != nil {
		return 0, err
	}
	allocated, _ := strconv.ParseUint(strings.Fields(string(b))[0], 10, 64)
	if allocated+total > fileMax {
		return 0, fmt.Errorf("the benchmark needs %d more open files but fs.file-max is %d with %d in use; not changing the host's fs.file-max", total, fileMax, allocated)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raising this process's soft RLIMIT_NOFILE to its hard limit %d: %w", lim.Max, err)
	}
	return int(min(lim.Max, 1<<30)), nil
}

// checkPortRange makes sure no ephemeral port can collide with a listener.
func checkPortRange(maxListenerPort int) error {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return err
	}
	f := strings.Fields(string(b))
	lo, _ := strconv.Atoi(f[0])
	if lo <= maxListenerPort {
		return fmt.Errorf("net.ipv4.ip_local_port_range starts at %d, below the last listener port %d: bench.sh widens it inside the namespace", lo, maxListenerPort)
	}
	return nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.IPv6Loopback()
	// sources are the IPv4 addresses connections come from.
	sources = []netip.Addr{lo4, netip.MustParseAddr("127.0.0.2"),
		netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}
)

// openListeners opens c.listeners sockets: 100 SO_REUSEPORT groups of 4 on
// 127.0.0.1, a tenth of the rest on [::1], a twentieth each on 0.0.0.0 and
// dual-stack [::], the rest on 127.0.0.1, with a mix of backlogs. It leaves 3
// unaccepted connections on c.pending of them, and opens c.synRecv half-open
// connections to a listener on SynRecvPort. Last it opens c.targets
// listeners for other shards' connections, from the port after the others,
// and returns their descriptors.
func openListeners(c holdConfig) ([]int, error) {
	port := c.base
	backlogs := []int{128, 511, 1024, 4096}
	for g := 0; g < 100; g++ {
		for m := 0; m < 4; m++ {
			if _, err := listen(netip.AddrPortFrom(lo4, uint16(port)), true, 1024); err != nil {
				return nil, err
			}
		}
		port++
	}
	rest := c.listeners - 400
	counts := map[netip.Addr]int{lo6: rest / 10, netip.IPv4Unspecified(): rest / 20, netip.IPv6Unspecified(): rest / 20}
	counts[lo4] = rest - counts[lo6] - 2*(rest/20)
	var pending []netip.AddrPort
	for _, addr := range []netip.Addr{lo6, netip.IPv4Unspecified(), netip.IPv6Unspecified(), lo4} {
		for i := 0; i < counts[addr]; i++ {
			ap := netip.AddrPortFrom(addr, uint16(port))
			if _, err := listen(ap, false, backlogs[i%len(backlogs)]); err != nil {
				return nil, err
			}
			port++
			if addr == lo4 && len(pending) < c.pending {
				pending = append(pending, ap)
			}
		}
	}
	for _, dst := range pending {
		for j := 0; j < 3; j++ {
			if _, err := connect(lo4, dst, true); err != nil {
				return nil, err
			}
		}
	}
	if c.synRecv > 0 {
		syn := netip.AddrPortFrom(lo4, SynRecvPort)
		// A SYN queue over half full gets its older requests pruned
		// (reqsk_timer_handler), so keep it at a quarter: the count stays put.
		if _, err := listen(syn, false, 4*c.synRecv); err != nil {
			return nil, err
		}
		for i := 0; i < c.synRecv; i++ {
			if _, err := connect(sources[i%len(sources)], syn, false); err != nil {
				return nil, err
			}
		}
	}
	var targets []int
	for i := 0; i < c.targets; i++ {
		fd, err := listen(connTarget(c.base+c.listeners, i), false, 4096)
		if err != nil {
			return nil, err
		}
		targets = append(targets, fd)
	}
	return targets, nil
}

func listen(ap netip.AddrPort, reuseport bool, backlog int) (int, error) {
	fd, err := unix.Socket(family(ap), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("socket for %s: %w", ap, err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if reuseport {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return 0, fmt.Errorf("SO_REUSEPORT on %s: %w", ap, err)
		}
	}
	if ap.Addr().Is6() {
		v6only := 1
		if ap.Addr().IsUnspecified() {
			v6only = 0
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err := unix.Bind(fd, sockaddr(ap)); err != nil {
		return 0, fmt.Errorf("bind %s: %w", ap, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return 0, fmt.Errorf("listen %s: %w", ap, err)
	}
	return fd, nil
}

// openConnections opens perShardListeners listeners from c.base (three on
// 127.0.0.1, one on [::1]) and c.conns connections to them round-robin,
// accepting each. IPv4 ones come from 127.0.0.1-4 with
// IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port per 4-tuple and the
// ephemeral range is not exhausted.
func openConnections(c holdConfig) error {
	var targets []netip.AddrPort
	fds := map[netip.AddrPort]int{}
	for i := 0; i < perShardListeners; i++ {
		ap := connTarget(c.base, i%perShardListeners)
		fd, err := listen(ap, false, 4096)
		if err != nil {
			return err
		}
		targets = append(targets, ap)
		fds[ap] = fd
	}
	return connectAndAccept(c.conns, targets, fds)
}

// connTarget is the address of the i-th connection-target listener from
// port base: three of every perShardListeners on 127.0.0.1, one on [::1].
func connTarget(base, i int) netip.AddrPort {
	addr := lo4
	if i%perShardListeners == perShardListeners-1 {
		addr = lo6
	}
	return netip.AddrPortFrom(addr, uint16(base+i))
}

// borrowConnections is openConnections for the one-owner shape: the
// listeners from port c.base are the owner process's descriptors fds (comma
// separated), copied here with pidfd_getfd for accepting and closed after,
// so only the owner holds them.
func borrowConnections(c holdConfig, ownerPID int, fds string) error {
	pidfd, err := unix.PidfdOpen(ownerPID, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", ownerPID, err)
	}
	defer unix.Close(pidfd)
	var targets []netip.AddrPort
	local := map[netip.AddrPort]int{}
	for i, f := range strings.Split(fds, ",") {
		remote, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("-owner-fds %q: %w", fds, err)
		}
		fd, err := unix.PidfdGetfd(pidfd, remote, 0)
		if err != nil {
			return fmt.Errorf("pidfd_getfd %d of %d: %w", remote, ownerPID, err)
		}
		ap := connTarget(c.base, i)
		targets = append(targets, ap)
		local[ap] = fd
	}
	if err := connectAndAccept(c.conns, targets, local); err != nil {
		return err
	}
	for _, fd := range local {
		unix.Close(fd)
	}
	return nil
}

// connectAndAccept opens n connections to targets round-robin and accepts
// each on its listener's descriptor in fds.
func connectAndAccept(n int, targets []netip.AddrPort, fds map[netip.AddrPort]int) error {
	for i := 0; i < n; i++ {
		dst := targets[i%len(targets)]
		src := lo6
		if dst.Addr().Is4() {
			src = sources[i%len(sources)]
		}
		if _, err := connect(src, dst, true); err != nil {
			return fmt.Errorf("connection %d: %w", i+1, err)
		}
		if _, _, err := unix.Accept4(fds[dst], unix.SOCK_CLOEXEC); err != nil {
			return fmt.Errorf("accept on %s: %w", dst, err)
		}
	}
	return nil
}

// connect opens a connection from src (port chosen at connect time) to dst;
// blocking waits for the handshake, otherwise it only sends the SYN.
func connect(src netip.Addr, dst netip.AddrPort, blocking bool) (int, error) {
	flags := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if !blocking {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(family(dst), flags, 0)
	if err != nil {
		return 0, fmt.Errorf("socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src, 0))); err != nil {
		return 0, fmt.Errorf("bind %s: %w", src, err)
	}
	err = unix.Connect(fd, sockaddr(dst))
	if err != nil && !(err == unix.EINPROGRESS && !blocking) {
		return 0, fmt.Errorf("connect %s -> %s: %w", src, dst, err)
	}
	return fd, nil
}

func family(ap netip.AddrPort) int {
	if ap.Addr().Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}
