package watch

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// appendReport appends r as one line of JSON, the same document
// encoding/json would produce (encode_test.go checks), without reflection:
// at 100 prints a second of 1,000 listeners, reflection was the largest
// user-space cost of watch.
func appendReport(b []byte, r *Report) ([]byte, error) {
	b = append(b, `{"time":`...)
	b = r.Time.AppendFormat(append(b, '"'), `2006-01-02T15:04:05.999999999Z07:00`)
	b = append(b, `","interval_seconds":`...)
	b = appendFloat(b, r.IntervalSeconds)
	b = append(b, `,"samples":`...)
	b = strconv.AppendInt(b, int64(r.Samples), 10)
	if r.Netns != nil {
		ns, err := json.Marshal(r.Netns)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"netns":`...), ns...)
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
		w, err := json.Marshal(r.Warnings)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"warnings":`...), w...)
	}
	return append(b, "}\n"...), nil
}

// appendListener writes inspect.Listener's fields, then watch's. Family and
// Address are ASCII (netip's text), so strconv quoting is JSON quoting;
// process names go through encoding/json.
func appendListener(b []byte, l *ListenerReport) ([]byte, error) {
	b = append(b, `{"family":`...)
	b = strconv.AppendQuote(b, l.Family)
	b = append(b, `,"address":`...)
	b = strconv.AppendQuote(b, l.Address)
	b = appendUint(b, `,"port":`, uint64(l.Port))
	b = appendUint(b, `,"accept_queue":`, uint64(l.AcceptQueue))
	b = appendUint(b, `,"accept_queue_max":`, uint64(l.AcceptQueueMax))
	b = appendFloat(append(b, `,"fill":`...), l.Fill)
	b = appendUint(b, `,"syn_queue":`, uint64(l.SynQueue))
	if l.SynQueueShared {
		b = append(b, `,"syn_queue_shared":true`...)
	}
	if l.Drops != nil {
		b = appendUint(b, `,"drops":`, uint64(*l.Drops))
	}
	b = appendUint(b, `,"inode":`, uint64(l.Inode))
	b = appendUint(b, `,"cookie":`, l.Cookie)
	b = appendUint(b, `,"uid":`, uint64(l.UID))
	if l.V6Only != nil {
		b = strconv.AppendBool(append(b, `,"v6only":`...), *l.V6Only)
	}
	if l.ReuseportGroup != 0 {
		b = appendInt(b, `,"reuseport_group":`, l.ReuseportGroup)
	}
	if l.ReuseportSize != 0 {
		b = appendInt(b, `,"reuseport_size":`, l.ReuseportSize)
	}
	switch {
	case l.Processes == nil:
		b = append(b, `,"processes":null`...)
	case len(l.Processes) == 0:
		b = append(b, `,"processes":[]`...)
	default:
		ps, err := json.Marshal(l.Processes)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"processes":`...), ps...)
	}
	b = appendUint(b, `,"peak_accept_queue":`, uint64(l.PeakAcceptQueue))
	b = appendFloat(append(b, `,"peak_fill":`...), l.PeakFill)
	b = appendUint(b, `,"peak_syn_queue":`, uint64(l.PeakSynQueue))
	b = appendFloat(append(b, `,"drops_per_second":`...), l.DropsPerSecond)
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

// appendFloat formats like encoding/json: shortest 'f', or 'e' for very
// small or large magnitudes. NaN and Inf cannot occur (rates divide by a
// positive elapsed time), but are written as 0 rather than invalid JSON.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// encoding/json writes e-9, not e-09.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
