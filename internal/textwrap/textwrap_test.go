package textwrap

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestText(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  []string
	}{
		{"one two three", 7, []string{"one two", "three"}},
		{"abcdefghij k", 4, []string{"abcd", "efgh", "ij k"}},
		{"", 5, []string{""}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Text(tt.in, tt.width)); diff != "" {
			t.Errorf("Text(%q, %d) (-want +got):\n%s", tt.in, tt.width, diff)
		}
	}
}

func TestWrapTextBreaksAfterCommas(t *testing.T) {
	got := Text("nginx[4242] fds=5/1024,nginx[4243] fds=64/64", 24)
	want := []string{"nginx[4242] fds=5/1024,", "nginx[4243] fds=64/64"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A paragraph's first line and the rest wrap at their own widths.
func TestParagraph(t *testing.T) {
	got := Paragraph("accept() fails with EMFILE at the limit whatever the queue shows", 30, "   why: ", "        ")
	want := "   why: accept() fails with\n        EMFILE at the limit\n        whatever the queue\n        shows\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Paragraph("a  b\nc", 0, "> ", "  "); got != "> a b c\n" {
		t.Errorf("no width: %q, want one line", got)
	}
}
