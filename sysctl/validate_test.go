package sysctl

import (
	"errors"
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
		{arg: "net.core.somaxconn=+010", wantKey: "net.core.somaxconn", wantValue: "10"},
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
