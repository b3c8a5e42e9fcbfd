package watch

import (
	"slices"
	"strconv"

	"github.com/backlogctl/backlogctl/internal/jsonfmt"
	"github.com/backlogctl/backlogctl/model"
)

// appendReport appends r as one line of JSON, the same document
// encoding/json would produce (encode_test.go checks), without reflection:
// at 100 prints a second of 1,000 listeners, reflection was the largest
// user-space cost of watch.
func appendReport(b []byte, r *model.WatchReport) ([]byte, error) {
	b = append(b, `{"time":`...)
	b = r.Time.AppendFormat(append(b, '"'), `2006-01-02T15:04:05.999999999Z07:00`)
	b = append(b, `","interval_seconds":`...)
	b = appendFloat(b, r.IntervalSeconds)
	b = append(b, `,"samples":`...)
	b = strconv.AppendInt(b, int64(r.Samples), 10)
	if r.Netns != nil {
		ns, err := jsonfmt.Marshal(r.Netns)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"netns":`...), ns...)
	}
	if r.Traced {
		b = append(b, `,"traced":true`...)
		if r.TraceMode != "" {
			b = append(append(append(b, `,"trace_mode":"`...), r.TraceMode...), '"')
		}
	}
	b = append(b, `,"listeners":[`...)
	for i := range r.Listeners {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendListener(b, &r.Listeners[i]); err != nil {
			return nil, err
		}
	}
	b = append(b, `],"counters":{`...)
	for i, k := range sortedKeys(r.Counters) {
		b = appendKey(b, i, k)
		b = strconv.AppendUint(b, r.Counters[k], 10)
	}
	b = append(b, `},"rates":{`...)
	for i, k := range sortedKeys(r.Rates) {
		b = appendKey(b, i, k)
		b = appendFloat(b, r.Rates[k])
	}
	b = append(b, '}')
	if len(r.Warnings) > 0 {
		w, err := jsonfmt.Marshal(r.Warnings)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"warnings":`...), w...)
	}
	return append(b, "}\n"...), nil
}

// appendListener writes model.Listener's fields (inspect's own encoder,
// checked against encoding/json there), then watch's.
func appendListener(b []byte, l *model.WatchListener) ([]byte, error) {
	b = l.Listener.AppendJSONFields(b)
	b = appendUint(b, `,"peak_accept_queue":`, uint64(l.PeakAcceptQueue))
	b = appendFloat(append(b, `,"peak_fill":`...), l.PeakFill)
	b = appendUint(b, `,"peak_syn_queue":`, uint64(l.PeakSynQueue))
	b = appendFloat(append(b, `,"drops_per_second":`...), l.DropsPerSecond)
	if l.Traced != nil {
		t, err := jsonfmt.Marshal(l.Traced)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"traced":`...), t...)
	}
	return append(b, '}'), nil
}

func appendUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(b, key...), v, 10)
}

func appendInt(b []byte, key string, v int) []byte {
	return strconv.AppendInt(append(b, key...), int64(v), 10)
}

func appendKey(b []byte, i int, k string) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	return append(strconv.AppendQuote(b, k), ':')
}

// appendFloat formats like encoding/json (NaN and Inf, which cannot occur:
// rates divide by a positive elapsed time, are written as 0).
func appendFloat(b []byte, f float64) []byte { return jsonfmt.AppendFloat(b, f) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
