package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/backlogctl/backlogctl/check"
)

// The JUnit XML that CI systems (Jenkins, GitLab, GitHub test reporters)
// ingest: one testsuite, one testcase per requirement.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// junitReport maps results to test cases: a failure is <failure>, a
// requirement that could not be evaluated is <error>, or <skipped> when
// --missing=pass counted it as passed.
func junitReport(r *Report) junitSuites {
	suite := junitSuite{Name: "backlogctl check", Timestamp: r.Time.Format("2006-01-02T15:04:05Z")}
	if r.Window != nil {
		suite.Time = fmt.Sprintf("%.3f", r.Window.Duration.Seconds())
	} else {
		suite.Time = "0"
	}
	for _, res := range r.Results {
		c := junitCase{Name: caseName(res), Classname: "backlogctl.check." + kindOf(res.Subject)}
		msg := &junitMessage{Message: message(res), Text: "source: " + res.Source}
		switch {
		case res.Status == check.StatusFail:
			msg.Type = "requirement failed"
			c.Failure = msg
			suite.Failures++
		case res.Status == check.StatusError:
			msg.Type = "not evaluated"
			c.Error = msg
			suite.Errors++
		case !res.Evaluated:
			c.Skipped = msg
			suite.Skipped++
		default:
			c.SystemOut = message(res)
		}
		suite.Cases = append(suite.Cases, c)
		suite.Tests++
	}
	return junitSuites{
		Name: suite.Name, Tests: suite.Tests, Failures: suite.Failures,
		Errors: suite.Errors, Skipped: suite.Skipped, Suites: []junitSuite{suite},
	}
}

// kindOf is the subject's kind: "listener" for listener.fill, "sysctl" otherwise.
func kindOf(subject string) string {
	for _, k := range []check.Kind{check.KindListener, check.KindProcess, check.KindFiles, check.KindCounter} {
		if strings.HasPrefix(subject, string(k)+".") {
			return string(k)
		}
	}
	return string(check.KindSysctl)
}

func renderJUnit(w io.Writer, r *Report) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitReport(r)); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
