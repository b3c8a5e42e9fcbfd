package tableprinter

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/clipperhouse/displaywidth"
)

// Bar is one row of a histogram: a label ("≤1.05ms") and its count.
type Bar struct {
	Label string
	Count uint64
}

// maxBarWidth is the longest a histogram bar gets, however wide the terminal.
const maxBarWidth = 40

// eighths are the partial blocks that end a bar, one to seven eighths.
var eighths = []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

// Histogram draws bars as rows of "LABEL  ████▍ COUNT", each bar as long
// as its count against the largest, at most maxBarWidth columns and
// fitting width (0: no limit). A non-zero count always gets at least a
// sliver, so an outlier stays visible.
func Histogram(w io.Writer, width int, indent string, bars []Bar) error {
	labelWidth, countWidth := 0, 0
	var most uint64
	for _, b := range bars {
		labelWidth = max(labelWidth, displaywidth.String(b.Label))
		countWidth = max(countWidth, len(strconv.FormatUint(b.Count, 10)))
		most = max(most, b.Count)
	}
	room := maxBarWidth
	if width > 0 {
		room = min(room, width-displaywidth.String(indent)-labelWidth-countWidth-3)
	}
	room = max(room, 1)
	var out strings.Builder
	for _, b := range bars {
		fmt.Fprintf(&out, "%s%*s  %s %d\n", indent, labelWidth, b.Label, bar(b.Count, most, room), b.Count)
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// bar is count's bar against most, in room columns, in eighths of a block.
func bar(count, most uint64, room int) string {
	if count == 0 || most == 0 {
		return ""
	}
	units := int(math.Round(float64(count) / float64(most) * float64(room*8)))
	units = max(units, 1)
	return strings.Repeat("█", units/8) + eighths[units%8]
}

// sparks are a sparkline's eight levels, lowest first.
var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws fractions from 0 to 1 (a queue's fill) as one character
// each, ▁ for empty to █ for full; a NaN (no sample then) is a blank.
func Sparkline(values []float64) string {
	var b strings.Builder
	for _, v := range values {
		if math.IsNaN(v) {
			b.WriteByte(' ')
			continue
		}
		i := int(v * float64(len(sparks)))
		b.WriteRune(sparks[min(max(i, 0), len(sparks)-1)])
	}
	return b.String()
}
