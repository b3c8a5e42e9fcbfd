package suggest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDidYouMean(t *testing.T) {
	keys := []string{"net.core.somaxconn", "somaxconn", "tcp_syncookies", "net.ipv4.tcp_syncookies", "fill", "drops", "syn_queue", "accept_queue"}
	for _, tt := range []struct{ word, want string }{
		{"somaxconx", `; did you mean "somaxconn"?`},
		{"SOMAXCONN", `; did you mean "somaxconn"?`},
		{"fil", `; did you mean "fill"?`},
		{"tcp_syncookie", `; did you mean "tcp_syncookies"?`},
		{"acc", `; did you mean "accept_queue"?`},
		{"zzzzzz", ""},
	} {
		if diff := cmp.Diff(tt.want, DidYouMean(tt.word, keys)); diff != "" {
			t.Errorf("DidYouMean(%q) (-want +got):\n%s", tt.word, diff)
		}
	}
}
