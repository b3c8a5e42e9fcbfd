package netns

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

func TestLabel(t *testing.T) {
	for _, tt := range []struct {
		ns   model.Namespace
		want string
	}{
		{model.Namespace{Inode: 4026532880, Name: "blue"}, "blue"},
		{model.Namespace{Inode: 4026532880}, "netns:[4026532880]"},
	} {
		if got := tt.ns.Label(); got != tt.want {
			t.Errorf("%+v.Label() = %q, want %q", tt.ns, got, tt.want)
		}
	}
}
