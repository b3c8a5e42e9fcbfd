package iostreams

import (
	"strings"
	"testing"
	"time"
)

// On a terminal the countdown says what is watched and clears its line
// when stopped; into a pipe it writes nothing.
func TestCountdown(t *testing.T) {
	ios, _, _, errOut := Test()
	ios.SetStderrTTY(true)
	stop := ios.StartCountdown("judging counters over 6s", 6*time.Second)
	stop()
	stop() // a second stop is harmless
	got := errOut.String()
	if !strings.HasPrefix(got, "\rbacklogctl: judging counters over 6s: 6s left\x1b[K") || !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("countdown wrote %q", got)
	}

	ios, _, _, errOut = Test()
	ios.StartCountdown("judging counters over 6s", 6*time.Second)()
	if errOut.Len() != 0 {
		t.Errorf("countdown into a pipe wrote %q", errOut.String())
	}
}

// Warnings are one line into a pipe; on a terminal they wrap at its width
// (here unknown: a buffer), so they stay one line too.
func TestWarn(t *testing.T) {
	ios, _, _, errOut := Test()
	ios.Warn("pods are shown by UID,   not by name")
	ios.Note("namespace  gone")
	if got, want := errOut.String(), "backlogctl: warning: pods are shown by UID, not by name\nbacklogctl: note: namespace gone\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
