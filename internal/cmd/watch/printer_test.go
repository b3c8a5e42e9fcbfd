package watch

import (
	"bytes"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/inspect"
)

// On a terminal of known height the view draws the fullest listeners that
// fit and says how many it left out; of unknown height, all of them.
func TestDrawReportFitsTheTerminal(t *testing.T) {
	r := &Report{}
	for i := 0; i < 100; i++ {
		r.Listeners = append(r.Listeners, ListenerReport{Listener: inspect.Listener{Address: "127.0.0.1", Port: uint16(1000 + i)}})
	}
	for _, tt := range []struct {
		height, reports, wantRows int
	}{
		{0, 1, 100},
		{50, 1, 50 - 1 - viewLines},
		{50, 2, 49/2 - viewLines},
		{10, 1, 3},
	} {
		var b bytes.Buffer
		if err := drawReport(&b, r, listenerRows(tt.height, tt.reports)); err != nil {
			t.Fatal(err)
		}
		got := strings.Count(b.String(), "127.0.0.1")
		if got != tt.wantRows {
			t.Errorf("height %d, %d reports: %d listener rows, want %d", tt.height, tt.reports, got, tt.wantRows)
		}
		if more := strings.Contains(b.String(), "more listeners"); more != (tt.wantRows < 100) {
			t.Errorf("height %d: \"more listeners\" line shown %v, want %v", tt.height, more, tt.wantRows < 100)
		}
		if tt.height > 0 && tt.reports == 1 && strings.Count(b.String(), "\n") > tt.height-1 {
			t.Errorf("height %d: view of %d lines does not fit", tt.height, strings.Count(b.String(), "\n"))
		}
	}
}
