package tableprinter

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// tablewriterRender is how Render drew terminal tables with
// github.com/olekukonko/tablewriter, which it no longer links (its init
// cost every command ~4 ms and 650 KB): the aligned output must not change.
func tablewriterRender(t *testing.T, header []string, rows [][]string) string {
	var buf bytes.Buffer
	tbl := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "  "}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	if len(header) > 0 {
		tbl.Header(header)
	}
	for _, r := range rows {
		if err := tbl.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tbl.Render(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		out.WriteString(strings.TrimRight(l, " "))
		out.WriteByte('\n')
	}
	return out.String()
}

func TestRenderMatchesTablewriter(t *testing.T) {
	words := []string{"127.0.0.1", "::", "-", "0", "nginx[1] fds=3/1024", "数据库", "e\u0301t\u00e9", "a b", "", "x", "😀 ok", "net.core.somaxconn", "TcpExtListenDrops"}
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		cols := 1 + rng.IntN(5)
		pick := func() []string {
			r := make([]string, cols)
			for i := range r {
				r[i] = words[rng.IntN(len(words))]
			}
			return r
		}
		var header []string
		if rng.IntN(4) > 0 {
			header = pick()
			for i := range header {
				header[i] = strings.ToUpper(header[i])
				if header[i] == "" {
					header[i] = "H"
				}
			}
		}
		var rows [][]string
		for range rng.IntN(6) {
			rows = append(rows, pick())
		}
		if header == nil && rows == nil {
			continue
		}
		var got bytes.Buffer
		p := New(&got, true, header...)
		for _, r := range rows {
			p.AddRow(r...)
		}
		if err := p.Render(); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tablewriterRender(t, header, rows), got.String()); diff != "" {
			t.Fatalf("seed %d: header %q rows %q (-tablewriter +Render):\n%s", seed, header, rows, diff)
		}
	}
}
