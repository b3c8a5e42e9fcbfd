package inspect

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// On a terminal the Tunables and Counters tables fit its width: MEANING
// wraps onto continuation lines at 60 columns (Tunables leaving out SCOPE)
// and stays on one line at 200. Listeners fit from 80 columns, leaving out
// INODE, UID and GROUP and wrapping PROCESSES.
func TestTablesFitTerminalWidth(t *testing.T) {
	for _, width := range []int{60, 80, 200} {
		ios, _, out, _ := iostreams.Test()
		ios.SetStdoutTTY(true)
		ios.SetTerminalWidth(width)
		if err := renderTable(ios, fixedSnapshot()); err != nil {
			t.Fatal(err)
		}
		sections := strings.Split(out.String(), "\n# ")
		for _, sec := range sections {
			listeners := strings.HasPrefix(sec, "Listeners")
			if listeners && width == 60 {
				continue // eleven columns do not fit in 60, even without INODE, UID and GROUP
			}
			if !strings.HasPrefix(strings.TrimPrefix(sec, "# "), "Tunables") && !strings.HasPrefix(sec, "Counters") && !listeners {
				continue
			}
			lines := strings.Split(strings.TrimSuffix(sec, "\n"), "\n")
			for _, l := range lines {
				if n := utf8.RuneCountInString(l); n > width {
					t.Errorf("width %d: line of %d columns: %q", width, n, l)
				}
			}
			continued := false
			for _, l := range lines[1:] {
				continued = continued || strings.HasPrefix(l, " ")
			}
			if !listeners && width != 80 && continued != (width == 60) {
				t.Errorf("width %d: MEANING wrapped onto continuation lines: %v, want %v:\n%s", width, continued, width == 60, sec)
			}
		}
		if !strings.Contains(out.String(), "somaxconn") {
			t.Fatalf("width %d: no tunables drawn:\n%s", width, out)
		}
	}
}
