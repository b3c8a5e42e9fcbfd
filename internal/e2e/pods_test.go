package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/pods/podstest"
)

// A listener inside a pod that a real containerd runs (as kubelet would
// ask it to: podstest) is shown by its pod, namespace and container in
// every command an operator uses, through the binary: inspect (JSON and the
// table's POD column), rlimit, advise, watch --processes, and the
// exporter's series labels, from the first series it publishes. The CRI
// socket is found where containerd keeps it, /run/containerd, bind-mounted
// read-only as the DaemonSet mounts it.
func TestPodsByName(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	rt := podstest.StartContainerd(t)
	sock := "/run/containerd/containerd.sock" // in the test's own tmpfs on /run
	bindReadOnly(t, rt.Socket, sock)

	// The exporter runs before the pod exists: the pod's listener must not
	// first appear without its pod.
	metricsAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nstest.FreePort(t)).String()
	exp := exec.Command(bin, "exporter", "--web.listen-address", metricsAddr)
	var expErr strings.Builder
	exp.Stderr = &expErr
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Process.Kill(); exp.Wait() })
	nstest.Eventually(t, 30*time.Second, "the exporter to serve", func() bool {
		_, err := scrapeMetrics(metricsAddr)
		return err == nil
	})

	port := nstest.FreePort(t)
	ep := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	// Backlog 2, never accepting: three connections fill it.
	pod := rt.RunPod(t, podstest.PodSpec{Name: "web", Namespace: "shop", Containers: []podstest.ContainerSpec{
		{Name: "app", Args: []string{"serve", ep.String(), "2", "0"}}}})
	nstest.Eventually(t, 60*time.Second, "the pod's listener", func() bool {
		c, err := net.DialTimeout("tcp", ep.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for range 3 {
		nstest.Connect(t, ep)
	}
	want := model.Workload{Pod: "web", Namespace: "shop", Container: "app", ContainerID: pod.ContainerIDs["app"], PodUID: pod.UID}
	p := strconv.Itoa(int(port))

	var snap model.Snapshot
	r := run(t, bin, "inspect", "--port", p, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &snap); err != nil || r.code != 0 {
		t.Fatalf("inspect -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if len(snap.Listeners) != 1 || len(snap.Listeners[0].Processes) != 1 || snap.Listeners[0].Processes[0].Workload != want {
		t.Fatalf("inspect -o json: listeners %+v, want one owned by %+v", snap.Listeners, want)
	}
	owner, comm := snap.Listeners[0].Processes[0].PID, snap.Listeners[0].Processes[0].Comm
	if len(snap.Warnings) != 0 {
		t.Errorf("inspect warnings %q", snap.Warnings)
	}
	if r := run(t, bin, "inspect", "--port", p); !strings.Contains(r.stdout, "\tPOD\tPROCESSES\n") || !strings.Contains(r.stdout, fmt.Sprintf("\tshop/web/app\t%s[%d]", comm, owner)) {
		t.Errorf("inspect's table has no POD column naming shop/web/app:\n%s", r.stdout)
	}

	var limits model.LimitsReport
	r = run(t, bin, "rlimit", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &limits); err != nil {
		t.Fatalf("rlimit -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	found := false
	for _, pl := range limits.Processes {
		if pl.PID == owner {
			found = true
			if pl.Workload != want {
				t.Errorf("rlimit: pid %d in %+v, want %+v", owner, pl.Workload, want)
			}
		}
	}
	if !found {
		t.Errorf("rlimit -o json lists no pid %d: %s", owner, r.stdout)
	}
	if r := run(t, bin, "rlimit", "--pid", strconv.Itoa(owner)); !strings.Contains(r.stdout, "\tshop/web/app\t"+p+"\t") {
		t.Errorf("rlimit --pid %d: no POD column naming shop/web/app:\n%s", owner, r.stdout)
	}

	var adv struct {
		Findings []struct {
			ID, Subject, Pod, Namespace, Container string
		}
	}
	r = run(t, bin, "advise", "--port", p, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &adv); err != nil {
		t.Fatalf("advise -o json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	named := 0
	for _, f := range adv.Findings {
		if f.Subject == ep.String() {
			named++
			if f.Pod != "web" || f.Namespace != "shop" || f.Container != "app" {
				t.Errorf("advise finding %s on %s names pod %q/%q/%q, want shop/web/app", f.ID, f.Subject, f.Namespace, f.Pod, f.Container)
			}
		}
	}
	if named == 0 {
		t.Errorf("advise has no finding about the pod's full queue: %s", r.stdout)
	}

	r = run(t, bin, "watch", "--port", p, "--processes", "--interval", "200ms", "--duration", "300ms", "-o", "json")
	var report model.WatchReport
	line, _, _ := strings.Cut(r.stdout, "\n")
	if err := json.Unmarshal([]byte(line), &report); err != nil || len(report.Listeners) != 1 || len(report.Listeners[0].Processes) != 1 ||
		report.Listeners[0].Processes[0].Workload != want {
		t.Errorf("watch --processes -o json: %v, want the listener owned in shop/web/app:\n%s%s", err, r.stdout, r.stderr)
	}

	// The exporter: every scrape that has the listener's series labels it
	// with its pod, and the owner's descriptor series is its container's.
	seen := false
	nstest.Eventually(t, 30*time.Second, "the pod's listener in the exporter's scrape", func() bool {
		fams, err := scrapeMetrics(metricsAddr)
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		for _, m := range fams["backlogctl_listener_accept_queue"].GetMetric() {
			labels := labelMap(m)
			if labels["port"] != p {
				continue
			}
			if labels["pod"] != "web" || labels["namespace"] != "shop" || labels["container"] != "app" || labels["process"] != comm {
				t.Fatalf("the pod's listener published as %v", labels)
			}
			seen = m.GetGauge().GetValue() == 3
		}
		for _, m := range fams["backlogctl_process_open_fds"].GetMetric() {
			if labels := labelMap(m); labels["pod"] == "web" && (labels["pid"] != "" || labels["container"] != "app") {
				t.Fatalf("the pod's process series %v, want pid \"\" and container app", labels)
			}
		}
		return seen
	})
	if t.Failed() {
		t.Logf("exporter: %s", expErr.String())
	}
}

// bindReadOnly bind-mounts the socket at src onto dst, read-only, as a
// DaemonSet's readOnly hostPath mount does: a socket on a read-only mount
// still takes connections.
func bindReadOnly(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--bind", src, dst}, {"-o", "remount,bind,ro", dst}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v\n%s", args, err, out)
		}
	}
}

// scrapeMetrics fetches and parses addr's /metrics.
func scrapeMetrics(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(pmodel.UTF8Validation)
	return parser.TextToMetricFamilies(bufio.NewReader(resp.Body))
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
