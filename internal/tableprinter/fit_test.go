package tableprinter

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

const meaning = "Maximum accept-queue length any listen() may ask for; larger backlogs are silently cut to it."

func render(t *testing.T, p *Printer) string {
	t.Helper()
	if err := p.Render(); err != nil {
		t.Fatal(err)
	}
	return p.w.(*bytes.Buffer).String()
}

// At 60, 80 and 200 columns the MEANING column wraps so that no line is
// wider than the terminal, and every word of it is still there.
func TestWrapColumnFitsWidth(t *testing.T) {
	for _, width := range []int{60, 80, 200} {
		var b bytes.Buffer
		p := New(&b, true, "KEY", "VALUE", "SCOPE", "MEANING").SetWidth(width).WrapColumn("MEANING")
		p.AddRow("net.core.somaxconn", "4096", "per-netns", meaning)
		p.AddRow("fs.nr_open", "1048576", "global", "Ceiling for RLIMIT_NOFILE.")
		out := render(t, p)
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if w := twwidth.Width(l); w > width {
				t.Errorf("width %d: line of %d columns: %q", width, w, l)
			}
		}
		if got := strings.Join(strings.Fields(wrappedColumn(out, "MEANING")), " "); !strings.Contains(got, meaning) {
			t.Errorf("width %d: MEANING lost words: %q\n%s", width, got, out)
		}
		lines := strings.Count(out, "\n")
		if width == 200 && lines != 3 {
			t.Errorf("width 200: %d lines, want 3 (nothing to wrap):\n%s", lines, out)
		}
		if width == 60 && lines <= 3 {
			t.Errorf("width 60: %d lines, want the meaning wrapped:\n%s", lines, out)
		}
	}
}

// wrappedColumn collects the text under header from every line.
func wrappedColumn(out, header string) string {
	lines := strings.Split(out, "\n")
	at := strings.Index(lines[0], header)
	var parts []string
	for _, l := range lines[1:] {
		if len(l) > at {
			parts = append(parts, l[at:])
		}
	}
	return strings.Join(parts, " ")
}

func TestDropColumnsInOrder(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, true, "ADDRESS", "PORT", "SYN-Q", "BACKLOG", "PROCESSES").SetWidth(30).DropColumns("SYN-Q", "PROCESSES", "BACKLOG")
	p.AddRow("127.0.0.1", "8080", "0", "4096", "nginx[1234],nginx[1235]")
	want := "ADDRESS    PORT  BACKLOG\n127.0.0.1  8080  4096\n"
	if diff := cmp.Diff(want, render(t, p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Pipes get every column and every word on one line, whatever the width.
func TestPipeIsNeverCut(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, false, "KEY", "MEANING").SetWidth(20).WrapColumn("MEANING").DropColumns("KEY")
	p.AddRow("somaxconn", meaning)
	if diff := cmp.Diff("KEY\tMEANING\nsomaxconn\t"+meaning+"\n", render(t, p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCut(t *testing.T) {
	if got := Cut("abcdef\nab\n", 3); got != "abc\nab\n" {
		t.Errorf("Cut = %q", got)
	}
	if got := Cut("abcdef\n", 0); got != "abcdef\n" {
		t.Errorf("Cut with no width = %q", got)
	}
}

// With every droppable column gone and still too wide, the columns that may
// be shortened are, with an ellipsis, and the wrapped one wraps in what is
// left: no line is wider than the terminal.
func TestCutColumnsWhenDroppingIsNotEnough(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, true, "ADDRESS", "PORT", "ACCEPT-Q", "INODE", "PROCESSES").SetWidth(48).
		WrapColumn("PROCESSES").DropColumns("INODE").CutColumns("PORT")
	p.AddRow("unix", "/run/php/php8.2-fpm-www-long-pool.sock", "3", "123456", "php-fpm8.2[100],php-fpm8.2[101]")
	p.AddRow("0.0.0.0", "80", "0", "7", "nginx[1]")
	want := "ADDRESS  PORT             ACCEPT-Q  PROCESSES\n" +
		"unix     /run/php/php8.…  3         php-fpm8.2[1\n" +
		"                                    00],\n" +
		"                                    php-fpm8.2[1\n" +
		"                                    01]\n" +
		"0.0.0.0  80               0         nginx[1]\n"
	got := render(t, p)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if w := twwidth.Width(l); w > 48 {
			t.Errorf("line of %d columns: %q", w, l)
		}
	}
}

func TestNoHeaders(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var b bytes.Buffer
		p := New(&b, tty, "KEY", "VALUE")
		p.noHeader = true
		p.AddRow("somaxconn", "4096")
		want := "somaxconn\t4096\n"
		if tty {
			want = "somaxconn  4096\n"
		}
		if diff := cmp.Diff(want, render(t, p)); diff != "" {
			t.Errorf("tty %v (-want +got):\n%s", tty, diff)
		}
	}
}

// Too narrow for the prose column to get its least width, the prose goes
// under the table, a paragraph per row led by its first fields.
func TestWrapBelow(t *testing.T) {
	var b bytes.Buffer
	p := New(&b, true, "STATUS", "SUBJECT", "REASON").SetWidth(40).WrapColumn("REASON").WrapAtLeast(30).WrapBelow(2)
	p.AddRow("FAIL", "listener.fill", "its accept queue is full (6 waiting, backlog 5)")
	p.AddRow("PASS", "somaxconn", "")
	want := "STATUS  SUBJECT\n" +
		"FAIL    listener.fill\n" +
		"PASS    somaxconn\n" +
		"\n" +
		"FAIL listener.fill: its accept queue is\n" +
		"  full (6 waiting, backlog 5)\n"
	if diff := cmp.Diff(want, render(t, p)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
