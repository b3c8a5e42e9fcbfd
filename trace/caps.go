package trace

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// capabilityNote says, in an operator's words, why the kernel refused to
// load the programs: which of CAP_BPF and CAP_PERFMON this process lacks
// (CAP_SYS_ADMIN stands for both, as before Linux 5.8), or, when it has
// them, that something else refused (kernel.unprivileged_bpf_disabled
// applies only without them; lockdown or an LSM may refuse root too).
func capabilityNote() string {
	has, ok := effectiveCaps()
	if !ok {
		return "run trace as root, or with CAP_BPF and CAP_PERFMON"
	}
	if has(unix.CAP_SYS_ADMIN) {
		return "this process has CAP_SYS_ADMIN, so the kernel refused for another reason (kernel lockdown, or an LSM such as SELinux or AppArmor)"
	}
	var missing []string
	for _, c := range []struct {
		cap  int
		name string
	}{{unix.CAP_BPF, "CAP_BPF"}, {unix.CAP_PERFMON, "CAP_PERFMON"}} {
		if !has(c.cap) {
			missing = append(missing, c.name)
		}
	}
	if len(missing) == 0 {
		return "this process has CAP_BPF and CAP_PERFMON, so the kernel refused for another reason (kernel lockdown, or an LSM such as SELinux or AppArmor)"
	}
	return fmt.Sprintf("this process (uid %d) lacks %s: run trace as root, or grant it CAP_BPF and CAP_PERFMON", os.Geteuid(), strings.Join(missing, " and "))
}

// effectiveCaps returns a test of this process's effective capability set.
func effectiveCaps() (func(c int) bool, bool) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, false
	}
	return func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }, true
}
