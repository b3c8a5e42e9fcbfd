package check

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
)

// labelledReport: somaxconn judged in two namespaces, one failing, one
// namespace skipped.
func labelledReport() *Report {
	r := &Report{Notes: []string{"skipped netns:[9]: it vanished during the scan"}}
	for _, ns := range []struct {
		label, observed string
		status          check.Status
	}{{"blue", "4096", check.StatusPass}, {"netns:[7]", "128", check.StatusFail}} {
		r.add([]check.Result{{Requirement: "net.core.somaxconn >= 4096", Subject: "net.core.somaxconn", Op: ">=",
			Expected: "4096", Status: ns.status, Evaluated: true, Observed: json.Number(ns.observed), Netns: ns.label}},
			&model.Observation{Warnings: []string{"w"}}, ns.label)
	}
	r.judge()
	return r
}

func TestLabelledOutput(t *testing.T) {
	r := labelledReport()
	if r.ExitCode != 1 || r.Summary != (Summary{Passed: 1, Failed: 1}) {
		t.Errorf("exit %d summary %+v, want 1 and one of each", r.ExitCode, r.Summary)
	}
	if diff := cmp.Diff([]string{"blue: w", "netns:[7]: w"}, r.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	ios, _, out, _ := iostreams.Test()
	if err := renderText(ios, r); err != nil {
		t.Fatal(err)
	}
	want := "NETNS\tSTATUS\tSUBJECT\tOBSERVED\tEXPECTED\tREASON\n" +
		"blue\tPASS\tnet.core.somaxconn\t4096\t>= 4096\t\n" +
		"netns:[7]\tFAIL\tnet.core.somaxconn\t128\t>= 4096\t\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}

	var gh bytes.Buffer
	if err := renderGitHub(&gh, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gh.String(), "::error title=backlogctl check FAIL%3A netns%3A[7]%3A net.core.somaxconn >= 4096::observed 128") {
		t.Errorf("github title lacks the namespace:\n%s", gh.String())
	}

	j := junitReport(r)
	var names []string
	for _, c := range j.Suites[0].Cases {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"blue: net.core.somaxconn >= 4096", "netns:[7]: net.core.somaxconn >= 4096"}, names); diff != "" {
		t.Errorf("junit names (-want +got):\n%s", diff)
	}
}
