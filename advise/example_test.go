package advise_test

import (
	"fmt"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/model"
)

// Judging one snapshot, as tune and check do: the findings about a listener,
// and the sysctl changes the findings recommend.
func ExamplePlanFindings() {
	snap := &model.Snapshot{
		Sysctls: map[string]int64{"net.core.somaxconn": 128, "net.ipv4.tcp_syncookies": 1},
		Listeners: []model.Listener{{
			Family: "ipv4", Address: "10.0.0.1", Port: 443,
			AcceptQueue: 129, AcceptQueueMax: 128, // full: the kernel holds backlog+1
		}},
	}
	findings := advise.Advise(advise.Input{Now: model.Sample{Snapshot: snap}})
	for _, f := range advise.FindingsFor(findings, advise.ListenerSubject("10.0.0.1", 443)) {
		fmt.Println(f.Severity, f.ID)
	}
	for _, c := range advise.PlanFindings(findings).Changes {
		fmt.Printf("%s: %d -> %d\n", c.Key, *c.Current, c.Target)
	}
	// Output:
	// warning somaxconn-clamps-listener
	// net.core.somaxconn: 128 -> 4096
}
