package model

import (
	"fmt"
	"path"
)

// MatchUnixPath reports whether name, a Unix listener's path or "@abstract"
// name, is selected by patterns: each an exact name or a path.Match
// pattern (/run/php/*.sock); no patterns select everything.
func MatchUnixPath(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// ValidUnixPathPattern says what is wrong with a path filter, or nil.
func ValidUnixPathPattern(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if p[0] != '/' && p[0] != '@' {
		return fmt.Errorf("%q is neither an absolute path nor an @abstract name", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q: bad pattern: %w", p, err)
	}
	return nil
}
