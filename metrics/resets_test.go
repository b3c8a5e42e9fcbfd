package metrics

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

// sock is one listener on 0.0.0.0:80 with an inode and a drop count.
type sock struct {
	inode uint32
	drops uint32
}

// sentDropsTo collects socks for scraper and returns the drops_total sent,
// or -1 when no drops series was sent.
func sentDropsTo(t *testing.T, r *Resets, scraper string, gone <-chan struct{}, socks ...sock) float64 {
	t.Helper()
	var ls []model.Listener
	for _, s := range socks {
		ls = append(ls, model.Listener{Address: "0.0.0.0", Port: 80, Inode: s.inode, Drops: u32(s.drops), AcceptQueueMax: 128})
	}
	m := &model.MultiSnapshot{Namespaces: []model.NamespaceSnapshot{{
		Netns: model.Namespace{Inode: 1}, Snapshot: &model.Snapshot{Listeners: ls},
	}}}
	reg, err := NewRegistry(&Collector{Source: func() (*model.MultiSnapshot, error) { return m, nil },
		Resets: r, Scraper: scraper, Gone: gone})
	if err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "backlogctl_listener_drops_total" {
			return f.Metric[0].GetCounter().GetValue()
		}
	}
	return -1
}

func TestResetsReplacedSocket(t *testing.T) {
	r := &Resets{}
	steps := []struct {
		what    string
		scraper string
		socks   []sock
		want    float64
	}{
		{"first sight", "a", []sock{{1, 720}}, 720},
		{"other scraper, first sight", "b", []sock{{1, 720}}, 720},
		{"same socket, more drops", "a", []sock{{1, 730}}, 730},
		{"restart: new socket, count not lower", "a", []sock{{2, 876}}, 0},
		{"then the real count", "a", []sock{{2, 876}}, 876},
		{"the other scraper also sees the reset", "b", []sock{{2, 880}}, 0},
		{"and then the count", "b", []sock{{2, 880}}, 880},
		{"restart with a lower count: Prometheus sees it unaided", "a", []sock{{3, 5}}, 5},
		{"an SO_REUSEPORT member joins: a true increase", "a", []sock{{3, 5}, {4, 7}}, 12},
		{"a member leaves: the survivor's history is not counted again", "a", []sock{{4, 20}}, 20},
		{"a member restarts, the other stays: no reset", "a", []sock{{4, 20}, {6, 30}}, 50},
		{"every member replaced", "a", []sock{{7, 60}, {8, 1}}, 0},
		{"then the count", "a", []sock{{7, 60}, {8, 1}}, 61},
		{"series gone for a scrape", "a", nil, -1},
		{"back on a new socket", "a", []sock{{5, 80}}, 0},
	}
	for _, s := range steps {
		if got := sentDropsTo(t, r, s.scraper, nil, s.socks...); got != s.want {
			t.Errorf("%s: sent %v, want %v", s.what, got, s.want)
		}
	}
}

// A scrape whose scraper hung up while the snapshot was taken is not
// remembered as sent: the reset is shown on the next scrape that is read.
func TestResetsScraperGone(t *testing.T) {
	r := &Resets{}
	sentDropsTo(t, r, "a", nil, sock{1, 720})
	gone := make(chan struct{})
	close(gone)
	if got := sentDropsTo(t, r, "a", gone, sock{2, 876}); got != -1 {
		t.Errorf("a gone scraper was sent drops %v", got)
	}
	if got := sentDropsTo(t, r, "a", nil, sock{2, 876}); got != 0 {
		t.Errorf("after a scrape nobody read, sent %v, want the reset (0)", got)
	}
}

// Without Resets (inspect -o prom) the count is always the sockets' own.
func TestNoResetsWithoutTracker(t *testing.T) {
	if got := sentDropsTo(t, nil, "", nil, sock{2, 876}); got != 876 {
		t.Errorf("sent %v, want 876", got)
	}
}
