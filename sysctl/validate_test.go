package sysctl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAssignment(t *testing.T) {
	tests := []struct {
		arg          string
		allowUnknown bool
		wantKey      string
		wantValue    string
		wantErr      error
	}{
		{arg: "somaxconn=8192", wantKey: "net.core.somaxconn", wantValue: "8192"},
		{arg: "net/core/somaxconn= 8192 ", wantKey: "net.core.somaxconn", wantValue: "8192"},
		{arg: "net.core.somaxconn=+10", wantKey: "net.core.somaxconn", wantValue: "10"},
		{arg: "net.core.somaxconn=+010", wantErr: ErrBadValue},
		{arg: "tcp_synack_retries=010", wantErr: ErrBadValue},
		{arg: "somaxconn=0x1000", wantErr: ErrBadValue},
		{arg: "somaxconn=0X10", wantErr: ErrBadValue},
		{arg: "somaxconn=09", wantErr: ErrBadValue},
		{arg: "somaxconn=00", wantErr: ErrBadValue},
		{arg: "somaxconn=0", wantKey: "net.core.somaxconn", wantValue: "0"},
		{arg: "net.ipv4.ip_local_port_range=010 65000", allowUnknown: true, wantErr: ErrBadValue},
		{arg: "tcp_syncookies=255", wantKey: "net.ipv4.tcp_syncookies", wantValue: "255"},
		{arg: "nr_open=64", wantKey: "fs.nr_open", wantValue: "64"},
		{arg: "file-max=9223372036854775807", wantKey: "fs.file-max", wantValue: "9223372036854775807"},
		{arg: "tcp_syncookies=256", wantErr: ErrBadValue},
		{arg: "tcp_abort_on_overflow=2", wantErr: ErrBadValue},
		{arg: "somaxconn=-1", wantErr: ErrBadValue},
		{arg: "somaxconn=2147483648", wantErr: ErrBadValue},
		{arg: "somaxconn=99999999999999999999", wantErr: ErrBadValue},
		{arg: "somaxconn=lots", wantErr: ErrBadValue},
		{arg: "somaxconn=1e3", wantErr: ErrBadValue},
		{arg: "somaxconn=", wantErr: ErrBadValue},
		{arg: "nr_open=63", wantErr: ErrBadValue},
		{arg: "somaxconn", wantErr: ErrBadValue},
		{arg: "net.ipv4.ip_forward=1", wantErr: ErrUnknownKey},
		{arg: "net.ipv4.ip_local_port_range=10000 65000", allowUnknown: true, wantKey: "net.ipv4.ip_local_port_range", wantValue: "10000 65000"},
		{arg: "net/ipv4/ip_forward=1", allowUnknown: true, wantKey: "net.ipv4.ip_forward", wantValue: "1"},
		{arg: "../../etc/passwd=x", allowUnknown: true, wantErr: ErrBadKey},
		{arg: "/proc/sys/net/core/somaxconn=1", allowUnknown: true, wantErr: ErrBadKey},
	}
	for _, tt := range tests {
		k, v, err := ParseAssignment(tt.arg, tt.allowUnknown)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || !IsBadInput(err) {
				t.Errorf("ParseAssignment(%q) = %s, %q, %v; want %v", tt.arg, k.Name, v, err, tt.wantErr)
			}
			continue
		}
		if err != nil || k.Name != tt.wantKey || v != tt.wantValue {
			t.Errorf("ParseAssignment(%q) = %s, %q, %v; want %s, %q", tt.arg, k.Name, v, err, tt.wantKey, tt.wantValue)
		}
	}
}

func TestParseValueRefusesReadOnlyKeys(t *testing.T) {
	_, err := ParseValue(Key{Name: "fs.file-nr", Kind: KindTuple, ReadOnly: true}, "1")
	if !errors.Is(err, ErrReadOnlyKey) {
		t.Errorf("got %v, want ErrReadOnlyKey", err)
	}
}

func TestSameValue(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"4096", "4096\n", true},
		{"0100", "100", true},
		{"32768\t60999", "32768 60999", true},
		{"32768 60999", "32768 61000", false},
		{"1", "2", false},
		{"1 2", "1", false},
		{"reno cubic", "reno  cubic", true},
		{"reno", "cubic", false},
	}
	for _, tt := range tests {
		if got := SameValue(tt.a, tt.b); got != tt.want {
			t.Errorf("SameValue(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestBaseZeroSaysWhatTheKernelReads: the refusal names the number the
// kernel would have taken, in one line.
func TestBaseZeroSaysWhatTheKernelReads(t *testing.T) {
	tests := map[string]string{
		"tcp_synack_retries=010": `the kernel reads "010" as 8 (base 0: a leading 0 is octal); write 8, or 10 without the leading 0`,
		"somaxconn=0x1000":       `the kernel reads "0x1000" as 4096 (base 0: 0x is hex); write the decimal 4096`,
		"somaxconn=09":           `the kernel does not read "09" as the decimal 9`,
	}
	for arg, want := range tests {
		_, _, err := ParseAssignment(arg, false)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseAssignment(%q) = %v; want one line saying %q", arg, err, want)
		}
	}
}

func TestLowers(t *testing.T) {
	tests := []struct {
		key, current, value string
		want                bool
	}{
		{"net.core.somaxconn", "128", "64", true},
		{"net.core.somaxconn", "128", "128", false},
		{"net.core.somaxconn", "128", "4096", false},
		{"net.ipv4.tcp_syncookies", "2", "1", false}, // a mode, not a capacity
		{"net.ipv4.tcp_abort_on_overflow", "1", "0", false},
		{"net.ipv4.tcp_synack_retries", "5", "3", true},
		{"net.ipv4.ip_local_port_range", "32768 60999", "10000 65000", false},
		{"net.ipv4.ip_forward", "1", "0", true},
	}
	for _, tt := range tests {
		if got := Lowers(tt.key, tt.current, tt.value); got != tt.want {
			t.Errorf("Lowers(%s, %s, %s) = %v, want %v", tt.key, tt.current, tt.value, got, tt.want)
		}
	}
}
