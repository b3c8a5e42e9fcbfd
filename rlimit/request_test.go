package rlimit

import (
	"errors"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

func u64p(v uint64) *uint64 { return &v }

func TestParseRequest(t *testing.T) {
	tests := []struct {
		in      string
		want    Request
		wantErr string
	}{
		{in: "65536", want: Request{Soft: 65536}},
		{in: "1024:524288", want: Request{Soft: 1024, Hard: u64p(524288)}},
		{in: "", wantErr: "SOFT is empty: want SOFT or SOFT:HARD, e.g. 65536:65536"},
		{in: "abc", wantErr: `SOFT "abc" is not a non-negative integer`},
		{in: "-1", wantErr: `SOFT "-1" is not a non-negative integer`},
		{in: "10:-5", wantErr: `HARD "-5" is not a non-negative integer`},
		{in: "10:", wantErr: "HARD is empty: want SOFT or SOFT:HARD, e.g. 65536:65536"},
		{in: "1.5", wantErr: `SOFT "1.5" is not a non-negative integer`},
		{in: "0", wantErr: "SOFT is 0: the process could not open any descriptor, accept() included"},
		{in: "1:2:3", wantErr: `HARD "2:3" is not a non-negative integer`},
		{in: "unlimited", wantErr: `SOFT "unlimited" is not a non-negative integer`},
	}
	for _, tt := range tests {
		got, err := ParseRequest(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseRequest(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRequest(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRequest(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestRequestResolve(t *testing.T) {
	soft := Request{Soft: 2048}
	if got := soft.Resolve(4096); got != (model.Nofile{Soft: 2048, Hard: 4096}) {
		t.Errorf("SOFT only keeps the current hard limit: got %+v", got)
	}
	if got := soft.Persistent(); got != (model.Nofile{Soft: 2048, Hard: 2048}) {
		t.Errorf("SOFT only in a drop-in means SOFT:SOFT: got %+v", got)
	}
	both := Request{Soft: 10, Hard: u64p(20)}
	if got := both.Resolve(4096); got != (model.Nofile{Soft: 10, Hard: 20}) {
		t.Errorf("SOFT:HARD: got %+v", got)
	}
}

func TestCheck(t *testing.T) {
	var sah *SoftAboveHardError
	var anr *AboveNrOpenError
	if err := Check(model.Nofile{Soft: 2048, Hard: 1024}, 1048576); !errors.As(err, &sah) {
		t.Errorf("soft above hard: err = %v", err)
	}
	if err := Check(model.Nofile{Soft: 1024, Hard: 1048577}, 1048576); !errors.As(err, &anr) ||
		err.Error() != "hard limit 1048577 is above fs.nr_open 1048576: the kernel refuses it even for root (raise fs.nr_open first)" {
		t.Errorf("above nr_open: err = %v", err)
	}
	if err := Check(model.Nofile{Soft: 1048576, Hard: 1048576}, 1048576); err != nil {
		t.Errorf("at nr_open is allowed: %v", err)
	}
	if err := Check(model.Nofile{Soft: 1024, Hard: 1 << 40}, 0); err != nil {
		t.Errorf("unknown nr_open skips the ceiling: %v", err)
	}
}
