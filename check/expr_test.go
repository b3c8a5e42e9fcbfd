package check

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseExpr(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form
		kind Kind
	}{
		{"net.core.somaxconn>=4096", "net.core.somaxconn >= 4096", KindSysctl},
		{"somaxconn>=4096", "net.core.somaxconn >= 4096", KindSysctl},
		{"  somaxconn  >=  4096 ", "net.core.somaxconn >= 4096", KindSysctl},
		{"net/ipv4/tcp_syncookies==1", "net.ipv4.tcp_syncookies == 1", KindSysctl},
		{"file-max>2097151", "fs.file-max > 2097151", KindSysctl},
		{"tcp_abort_on_overflow!=1", "net.ipv4.tcp_abort_on_overflow != 1", KindSysctl},
		{"listener.accept_queue_max >= 1024", "listener.accept_queue_max >= 1024", KindListener},
		{"listener.fill<=0.8", "listener.fill <= 0.8", KindListener},
		{"listener.drops==0", "listener.drops == 0", KindListener},
		{"listener.syn_queue<100", "listener.syn_queue < 100", KindListener},
		{"listener.accept_queue<10", "listener.accept_queue < 10", KindListener},
		{"process.nofile_soft>=65536", "process.nofile_soft >= 65536", KindProcess},
		{"process.nofile_hard==unlimited", "process.nofile_hard == unlimited", KindProcess},
		{"process.fd_usage<=0.8", "process.fd_usage <= 0.8", KindProcess},
		{"process.open_fds<1000", "process.open_fds < 1000", KindProcess},
		{"files.usage<=0.5", "files.usage <= 0.5", KindFiles},
		{"files.nr_open>=1048576", "files.nr_open >= 1048576", KindFiles},
		{"counter.TcpExtListenOverflows==0", "counter.TcpExtListenOverflows == 0", KindCounter},
		{"tcp_max_syn_backlog>=-1", "net.ipv4.tcp_max_syn_backlog >= -1", KindSysctl},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ParseExpr(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, e.String()); diff != "" {
				t.Errorf("canonical form (-want +got):\n%s", diff)
			}
			if e.Subject.Kind != tt.kind {
				t.Errorf("kind = %s, want %s", e.Subject.Kind, tt.kind)
			}
		})
	}
}

func TestParseExprErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"somaxconn", "no operator"},
		{"somaxconn=4096", `unknown operator "="`},
		{"somaxconn=>4096", `unknown operator "=>"`},
		{"somaxconn<>4096", `unknown operator "<>"`},
		{"somaxconn>==4096", `unknown operator ">=="`},
		{">=4096", "no subject"},
		{"somaxconn>=", "no value"},
		{"somaxconn>=lots", `value "lots" is not a number`},
		{"somaxconn>=0x10", `value "0x10" is not a number`},
		{"somaxconn>=1e999999999", `value "1e999999999" is not a number`},
		{"somaxconn>=unlimited", `"unlimited" applies only to`},
		{"nosuchkey>=1", `unknown subject "nosuchkey"`},
		{"listener.backlog>=1", `unknown listener field "backlog"`},
		{"process.fds>=1", `unknown process field "fds"`},
		{"files.free>=1", `unknown files field "free"`},
		{"counter.>=1", "is not an nstat name"},
		{"counter.Tcp-Ext>=1", "is not an nstat name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseExpr(tt.in)
			if err == nil {
				t.Fatalf("ParseExpr(%q) succeeded, want an error containing %q", tt.in, tt.want)
			}
			if !errors.Is(err, ErrBadExpr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want ErrBadExpr containing %q", err, tt.want)
			}
		})
	}
}

// Every operator against values below, at and above the bound.
func TestOperators(t *testing.T) {
	tests := []struct {
		op                  Op
		below, equal, above bool
	}{
		{OpGE, false, true, true},
		{OpLE, true, true, false},
		{OpGT, false, false, true},
		{OpLT, true, false, false},
		{OpEQ, false, true, false},
		{OpNE, true, false, true},
	}
	for _, tt := range tests {
		got := []bool{tt.op.holds(-1), tt.op.holds(0), tt.op.holds(1)}
		if diff := cmp.Diff([]bool{tt.below, tt.equal, tt.above}, got); diff != "" {
			t.Errorf("%s holds for below/equal/above (-want +got):\n%s", tt.op, diff)
		}
	}
}

// Any accepted expression prints a canonical form that parses back to itself.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"somaxconn>=4096", "listener.fill <= 0.8", "counter.TcpExtListenOverflows==0",
		"process.nofile_soft>=unlimited", "files.usage<0.1", "x=>1", "a<>b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			return
		}
		again, err := ParseExpr(e.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", e.String(), s, err)
		}
		if again.String() != e.String() || again.Value.Cmp(e.Value) != 0 {
			t.Fatalf("%q -> %q -> %q", s, e.String(), again.String())
		}
	})
}
