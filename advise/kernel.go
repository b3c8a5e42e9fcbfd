package advise

import (
	"strconv"
	"strings"
)

// kernelVersion parses the major and minor numbers of a release such as
// "6.18.44" or "4.19.0-27-amd64"; ok is false when it cannot.
func kernelVersion(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minorText := parts[1]
	if i := strings.IndexFunc(minorText, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorText = minorText[:i]
	}
	minor, err2 := strconv.Atoi(minorText)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// before44 reports a kernel older than 4.4, where the SYN queue was a table
// sized from min(backlog, tcp_max_syn_backlog); unknown versions are not.
func before44(release string) bool {
	major, minor, ok := kernelVersion(release)
	return ok && (major < 4 || major == 4 && minor < 4)
}
