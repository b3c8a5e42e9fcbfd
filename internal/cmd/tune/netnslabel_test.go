package tune

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

// tune names a namespace as inspect, check and the exporter do.
func TestScopeTextIsTheNetnsLabel(t *testing.T) {
	const ino = 4026532880
	row := Row{Netns: ino}
	row.Scope = sysctl.ScopeNetns
	if got, want := scopeText(row), (model.Namespace{Inode: ino}).Label(); got != want {
		t.Errorf("tune shows %q, other reports %q", got, want)
	}
}
