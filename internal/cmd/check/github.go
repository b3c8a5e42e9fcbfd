package check

import (
	"fmt"
	"io"
	"strings"

	"github.com/backlogctl/backlogctl/check"
)

// renderGitHub prints GitHub Actions workflow commands: ::error for a
// failure or a requirement not evaluated (unless --missing=pass), ::notice
// for a pass.
func renderGitHub(w io.Writer, r *Report) error {
	for _, res := range r.Results {
		level := "notice"
		if res.Status != check.StatusPass {
			level = "error"
		}
		title := fmt.Sprintf("backlogctl check %s: %s", strings.ToUpper(string(res.Status)), caseName(res))
		if _, err := fmt.Fprintf(w, "::%s title=%s::%s\n", level, escapeProperty(title), escapeData(message(res))); err != nil {
			return err
		}
	}
	return nil
}

// escapeData escapes a workflow command's message (actions/toolkit escapeData).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value (actions/toolkit escapeProperty).
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
