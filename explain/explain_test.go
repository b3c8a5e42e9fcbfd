package explain

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		query    string
		wantName string
		wantKind Kind
	}{
		{"syn-queue", "syn-queue", KindConcept},
		{"SYN-Queue", "syn-queue", KindConcept},
		{"accept-queue", "accept-queue", KindConcept},
		{"syncookies", "net.ipv4.tcp_syncookies", KindTunable}, // a registry alias wins over the concept's alias
		{"somaxconn", "net.core.somaxconn", KindTunable},
		{"net/core/somaxconn", "net.core.somaxconn", KindTunable},
		{"tcp_max_syn_backlog", "net.ipv4.tcp_max_syn_backlog", KindTunable},
		{"TcpExtListenOverflows", "TcpExtListenOverflows", KindCounter},
		{"listenoverflows", "TcpExtListenOverflows", KindCounter},
		{"descriptors", "descriptors", KindConcept},
		{"counters", "counters", KindConcept},
		{"unix", "unix-sockets", KindConcept},
		{"unix-sockets", "unix-sockets", KindConcept},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.query)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", tt.query)
			continue
		}
		if diff := cmp.Diff([]string{tt.wantName, string(tt.wantKind)}, []string{got.Name, string(got.Kind)}); diff != "" {
			t.Errorf("Lookup(%q) (-want +got):\n%s", tt.query, diff)
		}
	}
	for _, q := range []string{"", "nope", "net.core", "TcpExt"} {
		if got, ok := Lookup(q); ok {
			t.Errorf("Lookup(%q) = %q, want nothing", q, got.Name)
		}
	}
}

// The facts the issue asks explain to state, so a rewrite cannot lose them.
func TestKeyFacts(t *testing.T) {
	tests := []struct{ topic, want string }{
		{"tcp_max_syn_backlog", "tcp_syncookies=0"},
		{"tcp_max_syn_backlog", "no effect"},
		{"somaxconn", "only when listen() is called"},
		{"syn-queue", "effective backlog"},
		{"accept-queue", "backlog+1"},
		{"syncookies", "3 to 255 behave like 1"},
		{"unix", "no SYN queue"},
		{"unix", "holds backlog+1"},
		{"unix", "EAGAIN"},
		{"unix", "blocking connect() waits"},
		{"unix", "No kernel counter"},
		{"unix", "network namespace of the process that created it"},
	}
	for _, tt := range tests {
		topic, _ := Lookup(tt.topic)
		if text := strings.Join(topic.Text, " "); !strings.Contains(text, tt.want) {
			t.Errorf("explain %s does not say %q:\n%s", tt.topic, tt.want, text)
		}
	}
}

func TestEveryRegistryKeyIsExplained(t *testing.T) {
	for _, k := range sysctl.Registry {
		if _, ok := tunableText[k.Name]; !ok {
			t.Errorf("%s is in sysctl.Registry but has no text in explain/tunables.go: add what it does, how it interacts with the others and which counters show its limit", k.Name)
		}
		topic, ok := Lookup(k.Name)
		if !ok || topic.Key == nil || topic.Key.Name != k.Name {
			t.Errorf("Lookup(%q) = %+v, %v; want the registry key", k.Name, topic.Key, ok)
		}
	}
}

func TestEveryReportedCounterIsExplained(t *testing.T) {
	for _, c := range model.CounterNames {
		topic, ok := Lookup(c)
		if !ok || topic.Kind != KindCounter {
			t.Errorf("counter %s (model.CounterNames) has no counter topic in explain/counters.go", c)
			continue
		}
		if topic.Summary != model.KeyCounters[c] {
			t.Errorf("%s: summary %q differs from model.KeyCounters %q", c, topic.Summary, model.KeyCounters[c])
		}
	}
}

func TestReferencesResolve(t *testing.T) {
	seen := map[string]bool{}
	for _, topic := range All() {
		if seen[topic.Name] {
			t.Errorf("topic %s defined twice", topic.Name)
		}
		seen[topic.Name] = true
		if topic.Summary == "" || len(topic.Text) == 0 {
			t.Errorf("topic %s has no summary or text", topic.Name)
		}
		for _, ref := range append(append([]string{}, topic.SeeAlso...), topic.Counters...) {
			if _, ok := Lookup(ref); !ok {
				t.Errorf("topic %s refers to %q, which is no topic", topic.Name, ref)
			}
		}
	}
}

func TestNamesAreAllFound(t *testing.T) {
	for _, n := range Names() {
		if _, ok := Lookup(n); !ok {
			t.Errorf("Names() lists %q but Lookup does not find it", n)
		}
	}
}
