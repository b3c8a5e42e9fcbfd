package nstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (Debian's) run by a test on its
// namespace's loopback until the test ends.
type Prometheus struct {
	// Web is the address of its HTTP API; Log the path of its log.
	Web, Log string
}

// StartPrometheus runs Prometheus scraping targets every second as job
// backlogctl, adding labels (e.g. node) to every series; flags are added to
// its command line.
func StartPrometheus(t testing.TB, targets []string, labels map[string]string, flags ...string) *Prometheus {
	t.Helper()
	bin := LookTool(t, "prometheus")
	dir := t.TempDir()
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	var labelLines strings.Builder
	for k, v := range labels {
		fmt.Fprintf(&labelLines, "\n          %s: %s", k, strconv.Quote(v))
	}
	labelBlock := ""
	if labelLines.Len() > 0 {
		labelBlock = "\n        labels:" + labelLines.String()
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: backlogctl
    static_configs:
      - targets: [%s]%s
`, strings.Join(quoted, ", "), labelBlock)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{Web: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), Log: filepath.Join(dir, "prometheus.log")}
	logf, err := os.Create(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + p.Web}, flags...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	return p
}

// PromSeries is one series of a query's result: its labels, and its
// samples (one for an instant query).
type PromSeries struct {
	Labels map[string]string
	Times  []time.Time
	Values []float64
}

// Query runs an instant query.
func (p *Prometheus) Query(expr string) ([]PromSeries, error) {
	return p.get("query", url.Values{"query": {expr}})
}

// QueryRange runs a range query from start to end, every step.
func (p *Prometheus) QueryRange(expr string, start, end time.Time, step time.Duration) ([]PromSeries, error) {
	return p.get("query_range", url.Values{"query": {expr},
		"start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}})
}

func (p *Prometheus) get(api string, q url.Values) ([]PromSeries, error) {
	resp, err := http.Get("http://" + p.Web + "/api/v1/" + api + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s: %s", body.Status, body.Error)
	}
	var out []PromSeries
	for _, r := range body.Data.Result {
		s := PromSeries{Labels: r.Metric}
		samples := r.Values
		if r.Value != nil {
			samples = [][]any{r.Value}
		}
		for _, v := range samples {
			ts, _ := v[0].(float64)
			str, _ := v[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			if err != nil {
				return nil, fmt.Errorf("sample %q: %w", str, err)
			}
			s.Times = append(s.Times, time.Unix(0, int64(ts*float64(time.Second))))
			s.Values = append(s.Values, f)
		}
		out = append(out, s)
	}
	return out, nil
}
