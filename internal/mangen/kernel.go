package mangen

import (
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/explain"
)

// KernelPage is the file name of the section-7 page.
const KernelPage = "backlogctl-kernel.7"

// Kernel renders backlogctl-kernel(7) from the explain package's topics, so
// the page and `backlogctl explain` say the same thing.
func Kernel(o Options) []byte {
	var w roffWriter
	w.req(fmt.Sprintf(`.TH "BACKLOGCTL-KERNEL" "7" "%s" "backlogctl %s" "%s"`, o.Date.Format("2006-01-02"), o.Version, Manual))
	w.req(noHyphenation[0])
	w.req(noHyphenation[1])
	w.req(".SH NAME")
	w.text("backlogctl-kernel - how Linux queues incoming TCP connections: the SYN queue, the accept queue, their tunables and counters")
	w.req(".SH DESCRIPTION")
	w.text("A listening TCP socket has two queues. Half-open handshakes wait in the SYN queue for the client's final ACK; completed connections wait in the accept queue for the program to call accept(). Both are capped by the listener's effective backlog, and when either is full the kernel drops, or answers with a syncookie, and counts it. This page explains the mechanisms, the tunables that shape them and the counters that show them overflowing, as backlogctl(1) encodes them. Each fact names the kernel function it comes from; where common tuning advice disagrees with the kernel, the FOLKLORE section says so.")
	w.req(".PP")
	w.text("The same text is available at the terminal: backlogctl explain TOPIC, where TOPIC is one of the section names below in lower case (syn-queue, accept-queue, ...), a sysctl name or alias, or a counter name.")

	var counterConcept *explain.Topic
	for _, t := range explain.Concepts() {
		if t.Name == "counters" {
			counterConcept = &t
			continue
		}
		w.req(".SH " + strings.ToUpper(strings.ReplaceAll(t.Name, "-", " ")))
		w.paragraphs(t.Text)
		w.counters(t.Counters)
	}

	w.req(".SH TUNABLES")
	w.text("Each can be read with sysctl(8), changed with backlogctl, and explained with backlogctl explain NAME.")
	for _, t := range explain.Tunables() {
		w.req(".SS " + t.Name)
		w.req(".PP")
		w.text(strings.Join(explain.KeyFacts(*t.Key), "; ") + aliasesText(t.Aliases))
		w.paragraphs(t.Text)
		w.counters(t.Counters)
	}

	w.req(".SH COUNTERS")
	if counterConcept != nil {
		w.paragraphs(counterConcept.Text)
	}
	for _, t := range explain.Counters() {
		w.req(".TP")
		w.req(`.B ` + t.Name)
		w.text(strings.Join(t.Text, " "))
	}

	w.req(".SH FOLKLORE")
	w.text("Claims found in tuning guides that the kernel contradicts:")
	for _, t := range explain.All() {
		for _, f := range t.Folklore {
			w.req(`.IP \(bu 2`)
			w.text(t.Name + ": " + f)
		}
	}

	w.req(".SH SEE ALSO")
	refs := []string{`\fBbacklogctl\fP(1)`, `\fBbacklogctl\-explain\fP(1)`, `\fBbacklogctl\-inspect\fP(1)`}
	for _, s := range SeeAlso {
		name, sec, _ := strings.Cut(strings.TrimSuffix(s, ")"), "(")
		refs = append(refs, `\fB`+escapeDashes(name)+`\fP(`+sec+`)`)
	}
	w.req(strings.Join(refs, ", "))
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	return []byte(strings.Join(dropRedundantParagraphs(lines), "\n") + "\n")
}

func aliasesText(aliases []string) string {
	if len(aliases) == 0 {
		return ""
	}
	return "; aliases: " + strings.Join(aliases, ", ")
}

// roffWriter collects a page line by line.
type roffWriter struct{ strings.Builder }

// req writes a request or an already-escaped line as it is.
func (w *roffWriter) req(line string) { w.WriteString(line + "\n") }

// text writes prose, escaped.
func (w *roffWriter) text(s string) { w.WriteString(escapeDashes(roffText(s)) + "\n") }

// paragraphs writes explain paragraphs; "- " items become bullets.
func (w *roffWriter) paragraphs(ps []string) {
	for _, p := range ps {
		if item, ok := strings.CutPrefix(p, "- "); ok {
			w.req(`.IP \(bu 2`)
			w.text(item)
			continue
		}
		w.req(".PP")
		w.text(p)
	}
}

func (w *roffWriter) counters(names []string) {
	if len(names) == 0 {
		return
	}
	w.req(".PP")
	w.text("Counters that show this limit being hit: " + strings.Join(names, ", ") + ".")
}
