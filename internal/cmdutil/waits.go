package cmdutil

import (
	"io"
	"math"
	"strconv"
	"time"

	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/model"
)

// maxWaitRows is how many rows an accept-wait histogram may take: a range
// of buckets longer than this shows its non-empty ones only.
const maxWaitRows = 12

// WaitHistogramRows is how many lines WriteWaitHistogram draws for
// buckets, its title included (0 for none).
func WaitHistogramRows(buckets []model.WaitBucket) int {
	if len(buckets) == 0 {
		return 0
	}
	return 1 + len(waitBars(buckets))
}

// WriteWaitHistogram draws accept waits as a terminal histogram, under
// title: one row per log2 bucket from the shortest wait seen to the longest
// (the empty ones between included, so the shape shows), labelled with the
// bucket's upper bound, its count as a bar.
func WriteWaitHistogram(w io.Writer, width int, title string, buckets []model.WaitBucket) error {
	if len(buckets) == 0 {
		return nil
	}
	if _, err := io.WriteString(w, tableprinter.Paragraph(title, width, "", "  ")); err != nil {
		return err
	}
	return tableprinter.Histogram(w, width, "  ", waitBars(buckets))
}

func waitBars(buckets []model.WaitBucket) []tableprinter.Bar {
	byIndex := map[int]uint64{}
	first, last := model.WaitBuckets, -1
	for _, b := range buckets {
		i := model.WaitBuckets - 1
		if b.LE != nil {
			i = int(math.Round(math.Log2(*b.LE*1e9))) - 1
		}
		byIndex[i] += b.Count
		first, last = min(first, i), max(last, i)
	}
	var bars []tableprinter.Bar
	for i := first; i <= last; i++ {
		n, seen := byIndex[i]
		if !seen && last-first+1 > maxWaitRows {
			continue
		}
		bars = append(bars, tableprinter.Bar{Label: waitLabel(i), Count: n})
	}
	return bars
}

// waitLabel is bucket i's bound: "≤1.05ms", or ">550s" for the last.
func waitLabel(i int) string {
	if i >= model.WaitBuckets-1 {
		return ">" + shortDuration(model.WaitBucketLE(i-1))
	}
	return "≤" + shortDuration(model.WaitBucketLE(i))
}

// shortDuration is seconds to three significant digits with a unit.
func shortDuration(s float64) string {
	d := time.Duration(s * 1e9)
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Second, "s"}, {time.Millisecond, "ms"}, {time.Microsecond, "µs"}} {
		if d >= u.unit {
			return strconv.FormatFloat(float64(d)/float64(u.unit), 'g', 3, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}
