package advise

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/model"
)

// descriptorIDs are the owner findings that are a listener's verdict when
// its owner is out of descriptors (their Listener names it).
var descriptorIDs = []string{"traced-accept-errors", "accept-queue-full-at-nofile", "nofile-near-limit"}

var (
	// unrounded is a number printed with more digits than were measured.
	unrounded = regexp.MustCompile(`\d\.\d{5,}|\d{5,}\.\d`)
	reachedOf = regexp.MustCompile(`reached (\d+) of (\d+)`)
)

// consistent fails on every way a report was once seen to contradict
// itself: two verdicts about one listener, a recommendation below the
// value it would change, unrounded numbers, a high water "of" a smaller
// capacity, a full traced queue called "not full when sampled", and
// connections said to "still work" when their cookie ACKs overflowed.
func consistent(t *testing.T, r Report) {
	t.Helper()
	verdicts := map[string][]string{}
	for _, f := range r.Findings {
		switch {
		case f.Listener != "" && slices.Contains(descriptorIDs, f.ID):
			verdicts[f.Listener] = append(verdicts[f.Listener], f.ID)
		case strings.Contains(f.Subject, ":") && !strings.HasPrefix(f.Subject, "pid:") || strings.HasPrefix(f.Subject, "/") || strings.HasPrefix(f.Subject, "@"):
			verdicts[f.Subject] = append(verdicts[f.Subject], f.ID)
		}
		if f.Current != nil && f.Recommended != nil && *f.Recommended < *f.Current && !advise.ModeKey(f.Key) {
			t.Errorf("%s %s recommends %d, below its current %d", f.ID, f.Subject, *f.Recommended, *f.Current)
		}
		for _, text := range []string{f.Reason, f.Fix} {
			if m := unrounded.FindString(text); m != "" {
				t.Errorf("%s %s prints %q unrounded: %s", f.ID, f.Subject, m, text)
			}
			for _, m := range reachedOf.FindAllStringSubmatch(text, -1) {
				hw, _ := strconv.Atoi(m[1])
				capacity, _ := strconv.Atoi(m[2])
				if hw > capacity {
					t.Errorf("%s %s says %q: a high water past what a full queue holds, as if a contradiction", f.ID, f.Subject, m[0])
				}
			}
			if strings.Contains(text, "the connections still work") {
				t.Errorf("%s says the connections still work: %s", f.ID, text)
			}
		}
		for k, v := range f.Evidence {
			if v != model.Round(v) {
				t.Errorf("%s %s evidence %s=%v is not rounded", f.ID, f.Subject, k, v)
			}
		}
	}
	for subject, ids := range verdicts {
		if len(ids) > 1 {
			t.Errorf("%s has %d verdicts, want one: %v", subject, len(ids), ids)
		}
	}
	if r.Trace == nil {
		return
	}
	for _, l := range r.Trace.Listeners {
		subject := advise.ListenerSubject(l.Address, l.Port)
		if l.HighWater <= l.Backlog {
			continue
		}
		for _, f := range advise.FindingsFor(r.Findings, subject) {
			if strings.Contains(f.Reason, "not full when sampled") || strings.Contains(f.Reason, "sample faster") {
				t.Errorf("%s: the trace saw the queue full (%d, backlog %d), but %s says: %s", subject, l.HighWater, l.Backlog, f.ID, f.Reason)
			}
		}
	}
}
