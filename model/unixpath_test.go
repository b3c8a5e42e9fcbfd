package model

import (
	"strings"
	"testing"
)

func TestValidUnixPathPattern(t *testing.T) {
	for _, ok := range []string{"/run/php/php8.2-fpm.sock", "/run/*/*.sock", "@abstract", "@"} {
		if err := ValidUnixPathPattern(ok); err != nil {
			t.Errorf("ValidUnixPathPattern(%q) = %v, want nil", ok, err)
		}
	}
	for in, want := range map[string]string{
		"":               "empty path",
		"run/php.sock":   "neither an absolute path nor an @abstract name",
		"/run/[php.sock": "bad pattern",
	} {
		if err := ValidUnixPathPattern(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidUnixPathPattern(%q) = %v, want an error containing %q", in, err, want)
		}
	}
}

func TestMatchUnixPath(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		name     string
		want     bool
	}{
		{nil, "/run/php/php8.2-fpm.sock", true},
		{[]string{"/run/php/php8.2-fpm.sock"}, "/run/php/php8.2-fpm.sock", true},
		{[]string{"/run/php/*.sock"}, "/run/php/php8.2-fpm.sock", true},
		{[]string{"/run/*.sock"}, "/run/php/php8.2-fpm.sock", false}, // * stays within one directory
		{[]string{"@app"}, "@app", true},
		{[]string{"/x", "@app*"}, "@application", true},
		{[]string{"/run/[php"}, "/run/[php", true}, // a bad pattern still matches itself
	} {
		if got := MatchUnixPath(tc.patterns, tc.name); got != tc.want {
			t.Errorf("MatchUnixPath(%q, %q) = %v, want %v", tc.patterns, tc.name, got, tc.want)
		}
	}
}
