package mangen

import (
	"regexp"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// Files are the FILES section of every page.
var Files = []struct{ Path, Meaning string }{
	{"/var/lib/backlogctl", "State directory (tune --state-dir): the values the last tune --apply replaced, which tune --rollback restores, and the lock that lets only one run change tunables at a time."},
	{"/etc/sysctl.d/90-backlogctl.conf", "Written by tune --persist: the changed tunables, so that systemd-sysctl (sysctl --system) sets them again at boot; see sysctl.d(5) for which file wins."},
	{"/proc/sys/net/core, /proc/sys/net/ipv4, /proc/sys/fs", "The tunables, read and written directly."},
	{"/proc/net/netstat, /proc/net/snmp", "The kernel counters, read as nstat(8) names them."},
	{"/proc/PID/limits, /proc/PID/fd", "A listener's owner: its RLIMIT_NOFILE and open descriptors."},
}

// SeeAlso are the pages every page refers to, besides backlogctl's own.
var SeeAlso = []string{"ss(8)", "sysctl(8)", "sysctl.d(5)", "prlimit(1)", "nstat(8)"}

// noHyphenation keeps names like accept_queue_max and backlogctl-kernel
// whole: groff's paragraph macros re-enable hyphenation from register HY, so
// .nh alone (cobra's, before .TH) is not enough.
var noHyphenation = [2]string{".nr HY 0", ".nh"}

var thLine = regexp.MustCompile(`(?m)^\.TH "([^"]*)" "([^"]*)" "[^"]*"`)

// complete turns cobra/doc's roff into a page mandoc -Tlint accepts and adds
// the sections cobra does not write.
func complete(page string, date time.Time) string {
	// mandoc parses an ISO date, not cobra's "Nov 2026".
	page = thLine.ReplaceAllString(page, `.TH "$1" "$2" "`+date.Format("2006-01-02")+`"`)
	lines := strings.Split(page, "\n")
	lines = optionsAsTaggedParagraphs(lines)
	var out []string
	inserted := false
	inExample := false
	for _, l := range lines {
		switch {
		case l == ".EX":
			inExample = true
		case l == ".EE":
			inExample = false
		case l == "" && !inExample:
			continue // blank lines are paragraph breaks in roff; cobra's are redundant
		}
		if l == ".nh" {
			continue // moved after .TH, which turns hyphenation back on
		}
		if strings.HasPrefix(l, ".TH ") {
			out = append(out, l, noHyphenation[0], noHyphenation[1])
			continue
		}
		if l == ".SH EXAMPLE" {
			l = ".SH EXAMPLES"
		}
		if !inserted && (l == ".SH EXAMPLES" || l == ".SH SEE ALSO") {
			out = append(out, standardSections()...)
			inserted = true
		}
		out = append(out, l)
	}
	if !inserted {
		out = append(out, standardSections()...)
		out = append(out, ".SH SEE ALSO", "")
	}
	// cobra writes SEE ALSO last, on one line.
	last := len(out) - 1
	for last > 0 && out[last] == "" {
		last--
	}
	refs := []string{`\fBbacklogctl\-kernel\fP(7)`}
	for _, s := range SeeAlso {
		name, sec, _ := strings.Cut(strings.TrimSuffix(s, ")"), "(")
		refs = append(refs, `\fB`+name+`\fP(`+sec+`)`)
	}
	if out[last] == ".SH SEE ALSO" || out[last] == "" {
		out = append(out[:last+1], strings.Join(refs, ", "))
	} else {
		out[last] = reformatRefs(out[last]) + ", " + strings.Join(refs, ", ")
	}
	for i, l := range out {
		out[i] = escapeDashes(l)
	}
	return strings.Join(dropRedundantParagraphs(out), "\n") + "\n"
}

// dropRedundantParagraphs removes a .PP right after a heading, where it does
// nothing (mandoc: "skipping paragraph macro").
func dropRedundantParagraphs(lines []string) []string {
	out := lines[:0:0]
	for _, l := range lines {
		if l == ".PP" && len(out) > 0 {
			prev := out[len(out)-1]
			if strings.HasPrefix(prev, ".SH ") || strings.HasPrefix(prev, ".SS ") {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

var cobraRef = regexp.MustCompile(`\\fB([^\\(]+)\((\d)\)\\fP`)

// reformatRefs writes cobra's "\fBname(1)\fP" the usual way, "\fBname\fP(1)".
func reformatRefs(line string) string {
	return cobraRef.ReplaceAllString(line, `\fB$1\fP($2)`)
}

// optionsAsTaggedParagraphs rewrites cobra's "\fB--flag\fP" + "<TAB>usage"
// pairs (a tab in filled text) as .TP paragraphs.
func optionsAsTaggedParagraphs(lines []string) []string {
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, `\fB`) && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			if n := len(out); n > 0 && out[n-1] == ".PP" {
				out = out[:n-1]
			}
			usage := strings.TrimLeft(lines[i+1], "\t")
			out = append(out, ".TP", optionValue(l, usage), usage)
			i++
			continue
		}
		out = append(out, l)
	}
	return out
}

// standardSections are EXIT STATUS (from cmdutil.ExitCodesHelp) and FILES.
func standardSections() []string {
	out := []string{".SH EXIT STATUS"}
	out = append(out, exitStatus(cmdutil.ExitCodesHelp)...)
	out = append(out, ".SH FILES")
	for _, f := range Files {
		out = append(out, ".TP", `\fI`+roffText(f.Path)+`\fP`, roffText(f.Meaning))
	}
	return out
}

var exitItem = regexp.MustCompile(`^\s+(\d+)\s+(.*)$`)

// exitStatus renders "  N  meaning" lines (with indented continuations) as
// tagged paragraphs; other lines are kept as text.
func exitStatus(help string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(help), "\n") {
		if m := exitItem.FindStringSubmatch(l); m != nil {
			out = append(out, ".TP", `\fB`+m[1]+`\fP`, roffText(m[2]))
			continue
		}
		if t := strings.TrimSpace(l); t != "" {
			if len(out) == 0 {
				out = append(out, ".PP")
			}
			out = append(out, roffText(t))
		}
	}
	return out
}

// roffText escapes a line of prose for roff: backslashes, and a leading
// dot or quote that would make it a request. Dashes are escaped later.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// escapeDashes writes "-" as "\-" in text lines, so options and names render
// as the ASCII hyphen-minus people type, not as a typographic hyphen.
func escapeDashes(l string) string {
	if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
		if !strings.HasPrefix(l, ".TH ") && !strings.HasPrefix(l, ".SH ") && !strings.HasPrefix(l, ".SS ") {
			return l
		}
		if strings.HasPrefix(l, ".TH ") {
			return l
		}
	}
	var b strings.Builder
	for i := 0; i < len(l); i++ {
		if l[i] == '-' && (i == 0 || l[i-1] != '\\') {
			b.WriteString(`\-`)
			continue
		}
		b.WriteByte(l[i])
	}
	return b.String()
}

// zeroDefault matches what cobra/doc prints after a flag whose default is
// empty or zero: Go's rendering of an empty list ([]), string (""), duration
// (0s), number (0), or a boolean's [=false].
var zeroDefault = regexp.MustCompile(`(\[=false\]|\[=""\]|=\[\]|=""|=0s|=0|=)$`)

// valueName is the value's name in the usage text (pflag's back-quoted
// word, rendered bold): "show only listeners on \fBPORT\fR".
var valueName = regexp.MustCompile(`^(?:.*?)\\fB([A-Z][A-Z0-9_:=\[\]\\-]*)\\fR`)

// optionValue rewrites an option's tag so it shows what to type, not Go's
// zero value: "--port=[]" becomes "--port=PORT", "--quiet[=false]" becomes
// "--quiet"; a real default ("--listen=\"127.0.0.1:9597\"") stays, and so
// does a zero number or duration that has no value name to show instead.
func optionValue(tag, usage string) string {
	zero := zeroDefault.FindString(tag)
	if zero == "" {
		return tag
	}
	bare := strings.TrimSuffix(tag, zero)
	if m := valueName.FindStringSubmatch(usage); m != nil && zero != "[=false]" {
		if zero == `[=""]` { // an optional value
			return bare + "[=\\fI" + m[1] + "\\fP]"
		}
		return bare + "=\\fI" + m[1] + "\\fP"
	}
	if zero == "=0" || zero == "=0s" {
		return tag
	}
	return bare
}
