package packaging

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

const unitFile = "systemd/backlogctl-exporter.service"

// unit parses a systemd unit: each key's values, in order, by section.
func unit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: not KEY=VALUE: %q", unitFile, line)
			}
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	return keys
}

func one(t *testing.T, keys map[string][]string, key string) string {
	t.Helper()
	if len(keys[key]) != 1 {
		t.Fatalf("%s: %s set %d times, want once", unitFile, key, len(keys[key]))
	}
	return keys[key][0]
}

// The unit is hardened as the package promises: read-only system, no new
// privileges, an unprivileged dynamic user, and exactly the capabilities
// that finding owners needs, both bounded and ambient.
func TestExporterUnitContents(t *testing.T) {
	keys := unit(t)
	want := map[string]string{
		"Service.Type":                    "simple",
		"Service.ExecStart":               "/usr/bin/backlogctl exporter $BACKLOGCTL_EXPORTER_ARGS",
		"Service.EnvironmentFile":         "-/etc/default/backlogctl-exporter",
		"Service.DynamicUser":             "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.ProtectKernelTunables":   "yes",
		"Service.RestrictNamespaces":      "yes",
		"Service.SystemCallFilter":        "@system-service",
		"Service.CapabilityBoundingSet":   "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH",
		"Service.AmbientCapabilities":     "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_NETLINK AF_UNIX",
		"Install.WantedBy":                "multi-user.target",
	}
	for k, v := range want {
		if got := one(t, keys, k); got != v {
			t.Errorf("%s=%s, want %s", k, got, v)
		}
	}
	for _, k := range []string{"Service.User", "Service.Group", "Service.PermissionsStartOnly"} {
		if _, ok := keys[k]; ok {
			t.Errorf("%s is set: the service runs as a dynamic user", k)
		}
	}
	// The defaults file the unit reads is the one the packages install.
	goreleaser, err := os.ReadFile("../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"dst: /usr/lib/systemd/system/backlogctl-exporter.service", "dst: /etc/default/backlogctl-exporter"} {
		if !strings.Contains(string(goreleaser), dst) {
			t.Errorf(".goreleaser.yaml does not package %s", dst)
		}
	}
	def, err := os.ReadFile("systemd/backlogctl-exporter.default")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(def), "\nBACKLOGCTL_EXPORTER_ARGS=") {
		t.Error("the defaults file does not set BACKLOGCTL_EXPORTER_ARGS")
	}
}

// systemd-analyze verify accepts the unit (with ExecStart pointed at a
// real binary, since none is installed here, and man pages not looked up).
func TestExporterUnitVerifies(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found: scripts/test.sh installs Debian's systemd package")
		}
		t.Skip("systemd-analyze not found (apt-get install systemd)")
	}
	raw, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, filepath.Base(unitFile))
	text := strings.Replace(string(raw), "ExecStart=/usr/bin/backlogctl ", "ExecStart="+self+" ", 1)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The unit's capabilities are what the exporter needs and no more: run as
// an unprivileged user with exactly them (setpriv, as systemd's
// AmbientCapabilities= and CapabilityBoundingSet= would), it names the
// owner of a root's listener; without any one of them, it cannot.
func TestExporterUnitCapabilitiesSuffice(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	setpriv := nstest.LookTool(t, "setpriv")
	var caps []string
	for _, c := range strings.Fields(one(t, unit(t), "Service.AmbientCapabilities")) {
		caps = append(caps, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	ownerLabel := fmt.Sprintf(`port="%d",process="`, ep.Port())
	type tcase struct {
		name      string
		caps      []string
		wantOwner bool
	}
	cases := []tcase{{"the unit's capabilities", caps, true}, {"no capabilities", nil, false}}
	for i, c := range caps {
		cases = append(cases, tcase{"without " + c[1:], slices.Delete(slices.Clone(caps), i, i+1), false})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			capList := strings.Join(tc.caps, ",")
			bounding := "-all"
			if capList != "" {
				bounding += "," + capList
			}
			addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nstest.FreePort(t)).String()
			args := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs", "--bounding-set=" + bounding}
			if capList != "" {
				args = append(args, "--inh-caps="+capList, "--ambient-caps="+capList)
			}
			exporter := nstest.WorldCLICommand(t, "exporter", "--web.listen-address", addr, "--port", fmt.Sprint(ep.Port()))
			cmd := exec.Command(setpriv, append(append(args, exporter.Path), exporter.Args[1:]...)...)
			cmd.Env = exporter.Env
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			var body string
			// The listener series appears once its owner walk is done (or
			// known to find nothing).
			nstest.Eventually(t, 30*time.Second, "the exporter to export the listener", func() bool {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return strings.Contains(body, fmt.Sprintf(`port="%d"`, ep.Port()))
			})
			var lines []string
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "backlogctl_listener_backlog{") {
					lines = append(lines, l)
				}
			}
			named := slices.ContainsFunc(lines, func(l string) bool {
				return strings.Contains(l, ownerLabel) && !strings.Contains(l, ownerLabel+`"`)
			})
			t.Logf("series: %q", lines)
			if named != tc.wantOwner {
				t.Errorf("owner named: %v, want %v; series %q; stderr %s", named, tc.wantOwner, lines, stderr.String())
			}
		})
	}
}
