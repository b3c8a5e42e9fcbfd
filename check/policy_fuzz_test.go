package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParsePolicy: arbitrary policy files never panic; a rejected one is
// named in its error, and an accepted one requires something.
func FuzzParsePolicy(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "examples", "check-policy.yaml")); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{
		"require: [\"somaxconn>=4096\"]\n",
		"ports: [80, 443]\nobserve: 60s\nrequire:\n  - counter.TcpExtListenOverflows==0\n",
		"require: []\n",
		"",
		"# only a comment\n",
		"requir: [x]\n",
		"require: [\"somaxconn>=\"]\n",
		"ports: [0]\nrequire: [\"somaxconn>=1\"]\n",
		"---\nrequire: [\"somaxconn>=1\"]\n---\nrequire: [\"somaxconn>=2\"]\n",
		"require: &a [*a]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		p, err := ParsePolicy("policy.yaml", []byte(data))
		if err != nil {
			if !strings.Contains(err.Error(), "policy.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if p == nil {
			t.Fatal("nil policy without an error")
		}
		if len(p.Requirements) == 0 && p.Profile == nil {
			t.Fatalf("accepted a policy that requires nothing: %q", data)
		}
	})
}
