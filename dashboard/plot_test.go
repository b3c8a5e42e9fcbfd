package dashboard

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

var slugChars = regexp.MustCompile(`[^a-z0-9]+`)

func slug(title string) string {
	return strings.Trim(slugChars.ReplaceAllString(strings.ToLower(title), "-"), "-")
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legend renders a panel's legend format for one series, as Grafana does.
func legend(format string, labels map[string]string) string {
	out := legendLabel.ReplaceAllStringFunc(format, func(m string) string {
		return labels[legendLabel.FindStringSubmatch(m)[1]]
	})
	return strings.Join(strings.Fields(out), " ")
}

// plot draws each panel's queries over [start, end] from Prometheus into
// DIR/PANEL.png with gnuplot: lines for time series (at most 8 series, the
// largest), a heatmap for the heatmap, the series' values for the table.
func plot(t *testing.T, prom *nstest.Prometheus, queries []target, dir string, start, end time.Time) {
	gnuplot := nstest.LookTool(t, "gnuplot")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	for _, q := range queries {
		res, err := prom.QueryRange(Expand(q.Expr, rateInterval), start, end, time.Second)
		if err != nil {
			t.Errorf("%s: %v", q.Panel, err)
			continue
		}
		name := slug(q.Panel)
		var script string
		if q.Type == "heatmap" {
			script, err = heatmapScript(res, filepath.Join(data, name), start)
		} else {
			script, err = linesScript(res, filepath.Join(data, name), q, start)
		}
		if err != nil {
			t.Errorf("%s: %v", q.Panel, err)
			continue
		}
		out := filepath.Join(dir, name+".png")
		head := fmt.Sprintf("set terminal pngcairo noenhanced size 900,360 font 'sans,9'\nset output %q\nset title %q\nset xlabel 'seconds into the run'\nset grid\nset key outside right top\n", out, q.Panel)
		cmd := exec.Command(gnuplot)
		cmd.Stdin = strings.NewReader(head + script)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("gnuplot for %s: %v\n%s", q.Panel, err, b)
			continue
		}
		t.Logf("plotted %s: %d series", out, len(res))
	}
}

func linesScript(res []nstest.PromSeries, base string, q target, start time.Time) (string, error) {
	// The largest series first; at most 8 of them.
	peak := func(s nstest.PromSeries) float64 {
		m := math.Inf(-1)
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				m = math.Max(m, v)
			}
		}
		return m
	}
	sort.SliceStable(res, func(i, j int) bool { return peak(res[i]) > peak(res[j]) })
	if len(res) > 8 {
		res = res[:8]
	}
	var plots []string
	for i, s := range res {
		path := fmt.Sprintf("%s.%d.dat", base, i)
		var b strings.Builder
		for k, ts := range s.Times {
			if !math.IsNaN(s.Values[k]) {
				fmt.Fprintf(&b, "%.0f %g\n", ts.Sub(start).Seconds(), s.Values[k])
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			return "", err
		}
		title := legend(q.Legend, s.Labels)
		if title == "" {
			title = "value"
		}
		plots = append(plots, fmt.Sprintf("%q using 1:2 with lines lw 2 title %q", path, title))
	}
	if len(plots) == 0 {
		return "", fmt.Errorf("no data to plot")
	}
	ylabel := map[string]string{"percentunit": "fraction", "ops": "per second", "s": "seconds"}[q.Unit]
	return fmt.Sprintf("set ylabel %q\nset yrange [0:*]\nplot %s\n", ylabel, strings.Join(plots, ", ")), nil
}

// heatmapScript draws the per-bucket rates (the cumulative buckets'
// differences) as a time by bucket image.
func heatmapScript(res []nstest.PromSeries, base string, start time.Time) (string, error) {
	type bucket struct {
		le float64
		s  nstest.PromSeries
	}
	var bs []bucket
	for _, s := range res {
		le, err := strconv.ParseFloat(s.Labels["le"], 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{le, s})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 {
		return "", fmt.Errorf("no buckets")
	}
	at := func(s nstest.PromSeries) map[int64]float64 {
		m := map[int64]float64{}
		for i, ts := range s.Times {
			m[ts.Unix()] = s.Values[i]
		}
		return m
	}
	var b strings.Builder
	var tics []string
	prev := map[int64]float64{}
	for i, bk := range bs {
		cur := at(bk.s)
		times := make([]int64, 0, len(cur))
		for ts := range cur {
			times = append(times, ts)
		}
		sort.Slice(times, func(x, y int) bool { return times[x] < times[y] })
		for _, ts := range times {
			v := cur[ts] - prev[ts]
			if math.IsNaN(v) || v < 0 {
				v = 0
			}
			fmt.Fprintf(&b, "%d %d %g\n", ts-start.Unix(), i, v)
		}
		b.WriteString("\n")
		prev = cur
		if i%3 == 0 && !math.IsInf(bk.le, 1) {
			tics = append(tics, fmt.Sprintf("%q %d", time.Duration(bk.le*float64(time.Second)).Round(time.Microsecond).String(), i))
		}
	}
	path := base + ".dat"
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("set ylabel 'accept wait (bucket upper bound)'\nset ytics (%s)\nset cblabel 'accepts/s'\nset palette rgb 21,22,23\nplot %q using 1:2:3 with image notitle\n",
		strings.Join(tics, ", "), path), nil
}
