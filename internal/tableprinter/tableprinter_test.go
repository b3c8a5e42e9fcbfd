package tableprinter

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		tty    bool
		header []string
		rows   [][]string
		want   string
	}{
		{
			name:   "terminal: aligned, left, no trailing blanks",
			tty:    true,
			header: []string{"ADDRESS", "PORT", "PROCESSES"},
			rows:   [][]string{{"127.0.0.1", "9000", "nginx[1] fds=3/1024"}, {"::", "80", "-"}},
			want: "ADDRESS    PORT  PROCESSES\n" +
				"127.0.0.1  9000  nginx[1] fds=3/1024\n" +
				"::         80    -\n",
		},
		{
			name:   "pipe: tab-separated, fields kept verbatim",
			header: []string{"KEY", "VALUE"},
			rows:   [][]string{{"net.core.somaxconn", "4096"}, {"a b", ""}},
			want:   "KEY\tVALUE\nnet.core.somaxconn\t4096\na b\t\n",
		},
		{
			name:   "pipe: control characters cannot split fields or forge rows",
			header: []string{"ADDRESS", "PROCESSES"},
			rows:   [][]string{{"::", "evil\tname\n0.0.0.0\t1\x1b[2J"}},
			want:   "ADDRESS\tPROCESSES\n::\tevil?name?0.0.0.0?1?[2J\n",
		},
		{
			name: "terminal: a newline does not start a new line",
			tty:  true, header: []string{"A", "B"}, rows: [][]string{{"x\ny", "z"}},
			want: "A    B\nx?y  z\n",
		},
		{name: "pipe: header only", header: []string{"A", "B"}, want: "A\tB\n"},
		{name: "pipe: no header", rows: [][]string{{"1", "2"}}, want: "1\t2\n"},
		{name: "terminal: header only", tty: true, header: []string{"A", "B"}, want: "A  B\n"},
		{
			name: "terminal: header keeps its case",
			tty:  true, header: []string{"accept-q"}, rows: [][]string{{"9"}},
			want: "accept-q\n9\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			p := New(&b, tt.tty, tt.header...)
			for _, r := range tt.rows {
				p.AddRow(r...)
			}
			if p.Len() != len(tt.rows) {
				t.Errorf("Len = %d, want %d", p.Len(), len(tt.rows))
			}
			if err := p.Render(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
