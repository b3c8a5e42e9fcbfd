package tableprinter

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHistogram(t *testing.T) {
	var b bytes.Buffer
	bars := []Bar{{"≤1.02µs", 800}, {"≤2.05µs", 100}, {"≤4.1µs", 0}, {"≤1.05ms", 1}}
	if err := Histogram(&b, 40, "  ", bars); err != nil {
		t.Fatal(err)
	}
	// 40 columns: 2 indent, 7 label, 2, bar, 1, 3 count: 25 for the bars.
	want := "  ≤1.02µs  █████████████████████████ 800\n" +
		"  ≤2.05µs  ███▏ 100\n" +
		"   ≤4.1µs   0\n" +
		"  ≤1.05ms  ▏ 1\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSparkline(t *testing.T) {
	got := Sparkline([]float64{math.NaN(), 0, 0.1, 0.5, 0.99, 1, 1.5})
	if want := " ▁▁▅██" + "█"; got != want {
		t.Errorf("Sparkline = %q, want %q", got, want)
	}
}
