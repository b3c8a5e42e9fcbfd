package advise

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

func TestProfileFindings(t *testing.T) {
	def, _ := LookupProfile("default")
	hc, _ := LookupProfile("high-concurrency")
	tests := []struct {
		name    string
		profile Profile
		snap    *model.Sample
		want    []summary
	}{
		{
			name:    "old somaxconn below default",
			profile: def,
			snap:    &model.Sample{Snapshot: with(setSysctl("net.core.somaxconn", 128))},
			want:    []summary{{"below-profile", Warning, "net.core.somaxconn", "net.core.somaxconn", p64(128), p64(4096)}},
		},
		{
			name:    "host already higher: never lowered",
			profile: def,
			snap:    &model.Sample{Snapshot: with(setSysctl("net.core.somaxconn", 65535))},
			want:    []summary{},
		},
		{
			name:    "high-concurrency: every size below is reported, global keys absent here are skipped",
			profile: hc,
			snap:    &model.Sample{Snapshot: with(without("net.core.netdev_max_backlog"), setSysctl("fs.file-max", 100000))},
			want: []summary{
				{"below-profile", Warning, "fs.file-max", "fs.file-max", p64(100000), p64(2097152)},
				{"below-profile", Warning, "net.core.somaxconn", "net.core.somaxconn", p64(4096), p64(65535)},
			},
		},
		{
			name:    "a mode key is reported once, by the rule that explains it",
			profile: def,
			snap:    &model.Sample{Snapshot: with(setSysctl("net.ipv4.tcp_syncookies", 0))},
			want:    []summary{{"syncookies-off", Warning, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syncookies", p64(0), p64(1)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Now: *tt.snap, Profile: &tt.profile}
			got := summarize(only(Advise(in), "below-profile", "syncookies-off"))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// No profile lowers a size the host already has higher, whatever the host.
func TestProfilesNeverLowerSizes(t *testing.T) {
	for _, p := range Profiles {
		for _, factor := range []int64{0, 1, 2, 1000} {
			current := map[string]int64{}
			for k, target := range p.Targets {
				current[k] = target * factor
			}
			for _, c := range PlanProfile(p, current).Changes {
				if !p.Exact[c.Key] && c.Lowers() {
					t.Errorf("profile %s lowers %s from %d to %d", p.Name, c.Key, *c.Current, c.Target)
				}
			}
			in := Input{Now: model.Sample{Snapshot: with(func(s *model.Snapshot) {
				for k, v := range current {
					s.Sysctls[k] = v
				}
			})}, Profile: &p}
			for _, c := range PlanFindings(Advise(in)).Changes {
				if !ModeKey(c.Key) && c.Lowers() {
					t.Errorf("profile %s via findings lowers %s from %d to %d", p.Name, c.Key, *c.Current, c.Target)
				}
			}
		}
	}
}
