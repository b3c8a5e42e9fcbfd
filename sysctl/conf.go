package sysctl

import (
	"bufio"
	"io"
	"path"
	"strings"
)

// Assignment is one `key = value` line of a sysctl.conf-format file.
type Assignment struct {
	// Key is the name in dotted form; it may be a glob (net.ipv4.conf.*.rp_filter).
	Key   string `json:"key"`
	Value string `json:"value"`
	Line  int    `json:"line"`
	// Comment is the comment line directly above, without its '#'.
	Comment string `json:"comment,omitempty"`
}

// ParseConf reads sysctl.conf(5) syntax as systemd-sysctl and procps do:
// '#' and ';' start comments, a leading '-' on the key means "ignore errors",
// and a key whose first separator is '/' has its '/' and '.' swapped.
// Lines without '=' are skipped.
func ParseConf(r io.Reader) ([]Assignment, error) {
	var out []Assignment
	sc := bufio.NewScanner(r)
	comment := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			comment = ""
			continue
		}
		if line[0] == '#' || line[0] == ';' {
			comment = strings.TrimSpace(line[1:])
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			comment = ""
			continue
		}
		key = strings.TrimPrefix(strings.TrimSpace(key), "-")
		out = append(out, Assignment{
			Key: normalizeConfKey(strings.TrimSpace(key)), Value: strings.TrimSpace(value),
			Line: n, Comment: comment,
		})
		comment = ""
	}
	return out, sc.Err()
}

// normalizeConfKey gives a key its dotted form the way systemd's
// sysctl_normalize does: if the first separator is '/', swap '/' and '.'.
func normalizeConfKey(k string) string {
	i := strings.IndexAny(k, "./")
	if i < 0 || k[i] == '.' {
		return k
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '.':
			return '/'
		}
		return r
	}, k)
}

// ConfKeyMatches reports whether an assignment's key (possibly a glob)
// sets the dotted key name. Globs match one name component per '*'.
func ConfKeyMatches(pattern, name string) bool {
	if pattern == name {
		return true
	}
	if !strings.ContainsAny(pattern, "*?[") {
		return false
	}
	ok, err := path.Match(strings.ReplaceAll(pattern, ".", "/"), strings.ReplaceAll(name, ".", "/"))
	return err == nil && ok
}
