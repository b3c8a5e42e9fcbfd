package metrics

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"
)

func u32(v uint32) *uint32 { return &v }

func fixture() *model.MultiSnapshot {
	nginx := model.Process{PID: 42, Comm: "nginx", OpenFDs: 900, NofileSoft: 1024, NofileHard: 4096}
	return &model.MultiSnapshot{Namespaces: []model.NamespaceSnapshot{{
		Netns: model.Namespace{Inode: 4026531840},
		Snapshot: &model.Snapshot{
			Sysctls:  map[string]int64{"net.core.somaxconn": 4096},
			Counters: map[string]uint64{"TcpExtListenOverflows": 7, "TcpExtListenDrops": 9, "TcpNotExported": 1},
			Files:    &model.Files{Allocated: 100, Max: 1000, NrOpen: 1048576},
			Listeners: []model.Listener{
				// An SO_REUSEPORT pair: queues add up, the shared SYN queue counts once.
				{Address: "0.0.0.0", Port: 80, AcceptQueue: 3, AcceptQueueMax: 511, Fill: 3.0 / 512, SynQueue: 2, SynQueueShared: true, Drops: u32(5),
					ReuseportGroup: 1, ReuseportSize: 2, Processes: []model.Process{nginx}},
				{Address: "0.0.0.0", Port: 80, AcceptQueue: 4, AcceptQueueMax: 511, Fill: 4.0 / 512, SynQueue: 2, SynQueueShared: true, Drops: u32(1),
					ReuseportGroup: 1, ReuseportSize: 2, Processes: []model.Process{nginx}},
				{Address: "127.0.0.1", Port: 80, AcceptQueue: 1, AcceptQueueMax: 10, SynQueue: 1},
				{Address: "::", Port: 443, AcceptQueue: 0, AcceptQueueMax: 128},
			},
		},
	}}}
}

func parse(t *testing.T, m *model.MultiSnapshot, max int) map[string]*dto.MetricFamily {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteText(&buf, m, max); err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(bytes.NewReader(buf.Bytes())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(pmodel.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("parsing the exposition: %v\n%s", err, buf.String())
	}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
	return fams
}

// series renders a family's samples as "label=value,... value" lines.
func series(fams map[string]*dto.MetricFamily, name string) []string {
	var out []string
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.Metric {
		var labels []string
		for _, l := range m.Label {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.GetCounter().GetValue()
		}
		out = append(out, strings.Join(labels, ",")+" "+strconv.FormatFloat(v, 'g', -1, 64))
	}
	return out
}

func TestCollectorPerListener(t *testing.T) {
	fams := parse(t, fixture(), 1000)
	want := map[string][]string{
		"backlogctl_listener_accept_queue": {
			"address=0.0.0.0,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process=nginx 7",
			"address=127.0.0.1,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 1",
			"address=::,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 0",
		},
		"backlogctl_listener_backlog": {
			"address=0.0.0.0,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process=nginx 1022",
			"address=127.0.0.1,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 10",
			"address=::,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 128",
		},
		"backlogctl_listener_syn_queue": {
			"address=0.0.0.0,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process=nginx 2",
			"address=127.0.0.1,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 1",
			"address=::,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 0",
		},
		"backlogctl_listener_drops_total":        {"address=0.0.0.0,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process=nginx 6"},
		"backlogctl_listener_reuseport_max_fill": {"address=0.0.0.0,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process=nginx 0.0078125"},
		"backlogctl_listeners_aggregated":        {" 0"},
		"backlogctl_tcp_listen_overflows_total":  {"netns=netns:[4026531840] 7"},
		"backlogctl_sysctl":                      {"name=net.core.somaxconn,netns=netns:[4026531840] 4096"},
		"backlogctl_process_open_fds":            {"container=,namespace=,pid=42,pod=,process=nginx 900"},
		"backlogctl_process_max_fds":             {"container=,namespace=,pid=42,pod=,process=nginx 1024"},
		"backlogctl_files_max":                   {" 1000"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, series(fams, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if fams["backlogctl_tcp_syn_queue_full_drops_total"] != nil {
		t.Errorf("a counter absent from the snapshot was exported")
	}
}

// With more ports than the limit, the lowest ports keep their series and
// the rest are summed under port="other".
func TestCardinalityGuardFoldsPorts(t *testing.T) {
	fams := parse(t, fixture(), 1)
	want := []string{"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=other,process= 8"}
	if diff := cmp.Diff(want, series(fams, "backlogctl_listener_accept_queue")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	fams = parse(t, fixture(), 2) // 4 listeners > 2: per port, 2 ports fit
	want = []string{
		"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 0",
		"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 8",
	}
	if diff := cmp.Diff(want, series(fams, "backlogctl_listener_accept_queue")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCardinalityGuard(t *testing.T) {
	fams := parse(t, fixture(), 3)
	want := map[string][]string{
		"backlogctl_listener_accept_queue": {
			"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 0",
			"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 8",
		},
		"backlogctl_listener_syn_queue": {
			"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 0",
			"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 3",
		},
		"backlogctl_listeners_aggregated": {" 1"},
		"backlogctl_listeners":            {"netns=netns:[4026531840] 4"},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, series(fams, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// A listener whose owners are still being looked up has no series of its
// own (it would carry process=""), but counts among the listeners and is
// summed in under the guard, which has no process label.
func TestOwnersPendingHeldBack(t *testing.T) {
	m := fixture()
	ns := m.Namespaces[0]
	ns.Listeners = append(ns.Listeners, model.Listener{Address: "10.0.0.1", Port: 80, AcceptQueue: 2, AcceptQueueMax: 5, OwnersPending: true})
	fams := parse(t, m, 1000)
	for _, s := range series(fams, "backlogctl_listener_backlog") {
		if strings.Contains(s, "10.0.0.1") {
			t.Errorf("a listener whose owner is pending was published: %s", s)
		}
	}
	if diff := cmp.Diff([]string{"netns=netns:[4026531840] 5"}, series(fams, "backlogctl_listeners")); diff != "" {
		t.Errorf("listeners (-want +got):\n%s", diff)
	}
	fams = parse(t, m, 3)
	want := []string{
		"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=443,process= 0",
		"address=*,container=,namespace=,netns=netns:[4026531840],path=,pod=,port=80,process= 10",
	}
	if diff := cmp.Diff(want, series(fams, "backlogctl_listener_accept_queue")); diff != "" {
		t.Errorf("under the guard (-want +got):\n%s", diff)
	}
}

// A listener in a Kubernetes pod is labelled with its pod, namespace and
// container; its owners' descriptor series drop pid for them (one series
// per container and command name, from the process nearest its limit), so
// a process restarted in the same container keeps its series.
func TestPodLabels(t *testing.T) {
	web := model.Workload{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", Container: "app", ContainerID: "a1b2", PodUID: "0f9a"}
	master := model.Process{PID: 100, Comm: "gunicorn", OpenFDs: 10, NofileSoft: 1024, Workload: web}
	worker := model.Process{PID: 101, Comm: "gunicorn", OpenFDs: 1000, NofileSoft: 1024, Workload: web}
	m := fixture()
	ns := m.Namespaces[0]
	ns.Listeners = append(ns.Listeners, model.Listener{Address: "0.0.0.0", Port: 8000, AcceptQueue: 5, AcceptQueueMax: 2048,
		Processes: []model.Process{master, worker}})
	fams := parse(t, m, 1000)
	want := "address=0.0.0.0,container=app,namespace=shop,netns=netns:[4026531840],path=,pod=web-7d4b9c8f6-x2k9p,port=8000,process=gunicorn 5"
	if got := series(fams, "backlogctl_listener_accept_queue"); !slices.Contains(got, want) {
		t.Errorf("accept queue series %q, want one %q", got, want)
	}
	for name, w := range map[string][]string{
		"backlogctl_process_open_fds": {"container=,namespace=,pid=42,pod=,process=nginx 900",
			"container=app,namespace=shop,pid=,pod=web-7d4b9c8f6-x2k9p,process=gunicorn 1000"},
		"backlogctl_process_max_fds": {"container=,namespace=,pid=42,pod=,process=nginx 1024",
			"container=app,namespace=shop,pid=,pod=web-7d4b9c8f6-x2k9p,process=gunicorn 1024"},
	} {
		if diff := cmp.Diff(w, series(fams, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// Under the guard the pod labels go with the process label.
	fams = parse(t, m, 3)
	for _, s := range series(fams, "backlogctl_listener_accept_queue") {
		if strings.Contains(s, "pod=web") {
			t.Errorf("a per-port series under the guard kept its pod: %s", s)
		}
	}
}
