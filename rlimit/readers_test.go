package rlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

func TestReadNofileFixtures(t *testing.T) {
	tests := []struct {
		pid     int
		want    model.Nofile
		wantErr error
		errText string
	}{
		{pid: 100, want: model.Nofile{Soft: 1024, Hard: 524288}},
		{pid: 101, want: model.Nofile{Soft: model.Unlimited, Hard: model.Unlimited}},
		{pid: 102, wantErr: ErrNoNofileLine},
		{pid: 103, errText: `malformed line "Max open files 1024"`},
		{pid: 999, wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		got, err := ReadNofile(filepath.Join("testdata", "nofile"), tt.pid)
		checkResult(t, fmt.Sprint("pid ", tt.pid), err, tt.wantErr, tt.errText, tt.want, got)
	}
}

func TestParseNofileInline(t *testing.T) {
	tests := []struct {
		name, in string
		want     model.Nofile
		errText  string
	}{
		{name: "soft unlimited only", in: "Max open files unlimited 4096 files\n", want: model.Nofile{Soft: model.Unlimited, Hard: 4096}},
		{name: "first matching line wins", in: "Max open files 1 2 files\nMax open files 3 4 files\n", want: model.Nofile{Soft: 1, Hard: 2}},
		{name: "bad soft", in: "Max open files lots 4096 files\n", errText: `limit "lots" is not a number`},
		{name: "bad hard", in: "Max open files 1024 -1 files\n", errText: `limit "-1" is not a number`},
		{name: "other limits only", in: "Max processes 10 10 processes\n", errText: ErrNoNofileLine.Error()},
	}
	for _, tt := range tests {
		got, err := ParseNofile(strings.NewReader(tt.in))
		if tt.errText != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestReadFilesFixtures(t *testing.T) {
	tests := []struct {
		dir     string
		want    model.Files
		wantErr error
		errText string
	}{
		{dir: "ok", want: model.Files{Allocated: 1184, Max: 9223372036854775807, NrOpen: 1048576}},
		{dir: "tabs", want: model.Files{Allocated: 1184, Max: 2466165, NrOpen: 1048576}},
		{dir: "two-fields", errText: "want 3 numbers, got 2"},
		{dir: "no-nr-open", wantErr: fs.ErrNotExist},
		// The kernel clamps fs.file-max to LONG_MAX; anything larger is a broken file.
		{dir: "huge", errText: "not a list of integers"},
		{dir: "absent", wantErr: fs.ErrNotExist},
	}
	for _, tt := range tests {
		got, err := ReadFiles(sysctl.NewFS(filepath.Join("testdata", "filenr", tt.dir)))
		checkResult(t, tt.dir, err, tt.wantErr, tt.errText, tt.want, got)
	}
}

func TestFilesUsage(t *testing.T) {
	for _, tt := range []struct {
		f    model.Files
		want float64
	}{
		{model.Files{Allocated: 50, Max: 200}, 0.25},
		{model.Files{Allocated: 50, Max: 0}, 0},
		{model.Files{Allocated: 50, Max: -1}, 0},
	} {
		if got := tt.f.Usage(); got != tt.want {
			t.Errorf("%+v.Usage() = %v, want %v", tt.f, got, tt.want)
		}
	}
}

// checkResult compares a reader's result: err must match wantErr (errors.Is)
// or contain errText when either is set; otherwise got must equal want.
func checkResult(t *testing.T, what string, err, wantErr error, errText string, want, got any) {
	t.Helper()
	switch {
	case wantErr != nil:
		if !errors.Is(err, wantErr) {
			t.Errorf("%s: err = %v, want %v", what, err, wantErr)
		}
	case errText != "":
		if err == nil || !strings.Contains(err.Error(), errText) {
			t.Errorf("%s: err = %v, want one containing %q", what, err, errText)
		}
	case err != nil:
		t.Errorf("%s: %v", what, err)
	default:
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
}
