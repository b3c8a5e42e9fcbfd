package exporter

import (
	"fmt"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// startNginx runs Debian's nginx listening on 127.0.0.1:port until the test ends.
func startNginx(t *testing.T, port int) { nstest.StartNginx(t, port, 0) }

// nginx started while the exporter runs appears as process="nginx" from its
// first series on, never first as process="".
func TestNginxNeverUnlabelled(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h, err := newOpts().Handler()
	if err != nil {
		t.Fatal(err)
	}
	scrape(t, h) // the exporter has walked /proc before nginx exists
	port := freeLoopbackPort(t)
	startNginx(t, port)
	scrapes := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); scrapes++ {
		for _, m := range scrape(t, h)["backlogctl_listener_backlog"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["port"] != fmt.Sprint(port) {
				continue
			}
			if labels["process"] != "nginx" {
				t.Fatalf("scrape %d: nginx's listener published with process=%q", scrapes, labels["process"])
			}
			t.Logf("nginx's listener first published in scrape %d, labelled nginx", scrapes)
			return
		}
	}
	t.Fatalf("nginx's listener on port %d never appeared in %d scrapes", port, scrapes)
}
