package netns

import "testing"

func TestLabel(t *testing.T) {
	for _, tt := range []struct {
		ns   Namespace
		want string
	}{
		{Namespace{Inode: 4026532880, Name: "blue"}, "blue"},
		{Namespace{Inode: 4026532880}, "netns:[4026532880]"},
	} {
		if got := tt.ns.Label(); got != tt.want {
			t.Errorf("%+v.Label() = %q, want %q", tt.ns, got, tt.want)
		}
	}
}
