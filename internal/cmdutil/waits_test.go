package cmdutil

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
)

func TestWriteWaitHistogram(t *testing.T) {
	le := func(i int) *float64 { v := model.WaitBucketLE(i); return &v }
	// 2^10 ns, 2^11 ns and 2^20 ns buckets: the range between is drawn.
	buckets := []model.WaitBucket{{LE: le(9), Count: 40}, {LE: le(10), Count: 10}, {LE: le(12), Count: 1}}
	var b bytes.Buffer
	if err := WriteWaitHistogram(&b, 60, "accept waits:", buckets); err != nil {
		t.Fatal(err)
	}
	want := "accept waits:\n" +
		"  ≤1.02µs  ████████████████████████████████████████ 40\n" +
		"  ≤2.05µs  ██████████ 10\n" +
		"   ≤4.1µs   0\n" +
		"  ≤8.19µs  █ 1\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := WaitHistogramRows(buckets); n != strings.Count(want, "\n") {
		t.Errorf("WaitHistogramRows = %d, want %d", n, strings.Count(want, "\n"))
	}
	// A wide range shows only its non-empty buckets, the last unbounded.
	wide := []model.WaitBucket{{LE: le(9), Count: 3}, {LE: nil, Count: 1}}
	b.Reset()
	if err := WriteWaitHistogram(&b, 0, "t", wide); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "≤1.02µs") || !strings.Contains(got, ">550s") || strings.Count(got, "\n") != 3 {
		t.Errorf("wide range:\n%s", got)
	}
}
