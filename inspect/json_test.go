package inspect

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/jsonfmt"
	"github.com/backlogctl/backlogctl/model"
)

// indented is what json.Encoder with SetIndent("", "  ") and no HTML
// escaping writes for v: the bytes `inspect -o json` prints.
func indented(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// fillAll sets every exported field reachable from v to a non-zero value
// but those JSON leaves out (pointers allocated, two elements in each slice
// and map), so a field added
// to model.Snapshot, model.Listener or model.Process without a line in json.go makes
// TestWriteJSONMatchesEncodingJSON fail.
func fillAll(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fillAll(v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 29, 1, 2, 3, 456789, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			// A field JSON leaves out (json:"-") cannot change the bytes.
			if f := v.Type().Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				fillAll(v.Field(i), n)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillAll(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := 0; i < 2; i++ {
			k := reflect.New(v.Type().Key()).Elem()
			fillAll(k, n)
			e := reflect.New(v.Type().Elem()).Elem()
			fillAll(e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.String:
		v.SetString([]string{"plain", `q"uote <&> \`, "tab\tnl\n\u2028", "bad \xff utf8", "ünï"}[*n%5] + string(rune('a'+*n%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n) * 1000003)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(*n) * 7919)
	case reflect.Float32, reflect.Float64:
		v.SetFloat([]float64{0.5, 1.0 / 3, 1e-7, 2.5e-10, 1e21, 4096}[*n%6])
	default:
		panic("fillAll: no rule for " + v.Kind().String() + "; add one")
	}
}

func TestWriteJSONMatchesEncodingJSON(t *testing.T) {
	no, yes := false, true
	var zero uint32
	full := &model.Snapshot{}
	n := 0
	fillAll(reflect.ValueOf(full).Elem(), &n)
	tests := map[string]*model.Snapshot{
		"every field set": full,
		"zero":            {},
		"empty":           {Sysctls: map[string]int64{}, Counters: map[string]uint64{}, Listeners: []model.Listener{}, Warnings: []string{}},
		"listeners as inspect makes them": {
			Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Kernel: "6.18.0",
			Sysctls: map[string]int64{"net.core.somaxconn": 4096}, Counters: map[string]uint64{"TcpExtListenDrops": 3},
			Listeners: []model.Listener{
				{Family: "ipv4", Address: "127.0.0.1", Port: 80, AcceptQueue: 3, AcceptQueueMax: 511, Fill: model.Fill(3, 511), Drops: &zero, Processes: []model.Process{}},
				{Family: "ipv6", Address: "::", Port: 443, V6Only: &no, SynQueue: 7, SynQueueShared: true, ReuseportGroup: 1, ReuseportSize: 2,
					Processes: []model.Process{{PID: 1, Comm: "nginx", OpenFDs: 12, NofileSoft: 1024, NofileHard: 1 << 20}, {PID: 2, Comm: "w\x00rker"}}},
				{Family: "ipv4", Address: "0.0.0.0", Port: 8080, Processes: []model.Process{
					{PID: 4, Comm: "app", Workload: model.Workload{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", Container: "app", ContainerID: "a1b2", PodUID: "0f9a8b7c"}},
					{PID: 5, Comm: "pause", Workload: model.Workload{Pod: "web", Namespace: "shop", ContainerID: "c3d4", PodUID: "0f9a8b7c"}},
					{PID: 6, Comm: "gosrv", Workload: model.Workload{ContainerID: "e5f6"}}}},
				{Family: "ipv6", Address: "::1", Port: 443, V6Only: &yes, BoundIfindex: 3, Fill: math.Nextafter(0, 1)},
				{Family: "unix", Path: "/run/php/php8.2-fpm.sock", SocketType: "stream", AcceptQueue: 9, AcceptQueueMax: 8, Fill: 1,
					Processes:         []model.Process{{PID: 3, Comm: "php-fpm8.2"}},
					ConfiguredBacklog: &model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: 8, Source: "/etc/php/8.2/fpm/pool.d/www.conf:12"}},
				{Family: "unix", Path: "/run/gunicorn.sock", SocketType: "stream",
					ConfiguredBacklog: &model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}},
				{Family: "unix", Path: "@abstract\"name\"", SocketType: "seqpacket"},
			},
			Warnings: []string{"could not read <something> & more"},
		},
	}
	for name, snap := range tests {
		t.Run(name, func(t *testing.T) {
			var got bytes.Buffer
			if err := snap.WriteJSON(&got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(indented(t, snap), got.String()); diff != "" {
				t.Errorf("WriteJSON differs from encoding/json (-want +got):\n%s", diff)
			}
			for i := range snap.Listeners {
				want, err := jsonfmt.Marshal(snap.Listeners[i])
				if err != nil {
					t.Fatal(err)
				}
				if got := append(snap.Listeners[i].AppendJSONFields(nil), '}'); string(got) != string(want) {
					t.Errorf("listener %d:\nwant %s\ngot  %s", i, want, got)
				}
			}
		})
	}
}

// A document bigger than the stream's buffer is written in pieces that
// still add up to encoding/json's bytes.
func TestWriteJSONManyListeners(t *testing.T) {
	snap := benchSnapshot(t)
	var got bytes.Buffer
	if err := snap.WriteJSON(&got); err != nil {
		t.Fatal(err)
	}
	if got.Len() < 256<<10 {
		t.Fatalf("only %d bytes: the test should cross several buffer flushes", got.Len())
	}
	if want := indented(t, snap); want != got.String() {
		t.Errorf("WriteJSON of %d listeners differs from encoding/json", len(snap.Listeners))
	}
}
