package model

import (
	"io"
	"strconv"
	"time"

	"github.com/backlogctl/backlogctl/internal/jsonfmt"
)

// WriteJSON writes s as json.Encoder with SetIndent("", "  ") would, byte
// for byte, but streamed through a 64 KiB buffer and with the listeners
// encoded without reflection: for a one-shot inspect of 9,000 listeners the
// 2.4 MB document is never held whole. The small maps go through
// encoding/json.
func (s *Snapshot) WriteJSON(w io.Writer) error {
	out := jsonfmt.NewStream(w)
	out.Raw(`{"time":`)
	out.Value(s.Time)
	if s.Kernel != "" {
		out.Raw(`,"kernel":`)
		out.Compact(jsonfmt.AppendString(nil, s.Kernel))
	}
	out.Raw(`,"sysctls":`)
	out.Value(s.Sysctls)
	out.Raw(`,"counters":`)
	out.Value(s.Counters)
	if s.Files != nil {
		out.Raw(`,"files":`)
		out.Value(s.Files)
	}
	out.Raw(`,"listeners":`)
	if s.Listeners == nil {
		out.Raw("null")
	} else {
		out.Raw("[")
		var b []byte // one listener at a time, reused
		for i := range s.Listeners {
			if i > 0 {
				out.Raw(",")
			}
			b = append(s.Listeners[i].AppendJSONFields(b[:0]), '}')
			out.Compact(b)
		}
		out.Raw("]")
	}
	out.Raw(`,"warnings":`)
	out.Value(s.Warnings)
	out.Raw("}")
	return out.Close()
}

// AppendJSONFields appends l as compact JSON, exactly as encoding/json
// marshals a Listener, but without the closing brace, so an embedding type
// can add its own fields (watch does). It uses no reflection and allocates
// nothing for plain ASCII names: inspect and watch encode thousands of
// listeners per report. json_test.go checks every field against encoding/json.
func (l *Listener) AppendJSONFields(b []byte) []byte {
	b = append(b, `{"family":`...)
	b = jsonfmt.AppendString(b, l.Family)
	b = append(b, `,"address":`...)
	b = jsonfmt.AppendString(b, l.Address)
	b = appendUint(b, `,"port":`, uint64(l.Port))
	if l.Path != "" {
		b = jsonfmt.AppendString(append(b, `,"path":`...), l.Path)
	}
	if l.SocketType != "" {
		b = jsonfmt.AppendString(append(b, `,"socket_type":`...), l.SocketType)
	}
	b = appendUint(b, `,"accept_queue":`, uint64(l.AcceptQueue))
	b = appendUint(b, `,"accept_queue_max":`, uint64(l.AcceptQueueMax))
	b = jsonfmt.AppendFloat(append(b, `,"fill":`...), l.Fill)
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
	if l.BoundIfindex != 0 {
		b = appendUint(b, `,"bound_ifindex":`, uint64(l.BoundIfindex))
	}
	if l.ReuseportGroup != 0 {
		b = appendInt(b, `,"reuseport_group":`, int64(l.ReuseportGroup))
	}
	if l.ReuseportSize != 0 {
		b = appendInt(b, `,"reuseport_size":`, int64(l.ReuseportSize))
	}
	if l.Processes == nil {
		b = append(b, `,"processes":null`...)
	} else {
		b = append(b, `,"processes":[`...)
		for i := range l.Processes {
			if i > 0 {
				b = append(b, ',')
			}
			b = l.Processes[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if c := l.ConfiguredBacklog; c != nil {
		b = appendProgramSetting(append(b, `,"configured_backlog":`...), c.Program, c.Setting, c.Value, c.Default, c.Source, c.Detail)
		b = append(b, '}')
	}
	if c := l.ConnectionCap; c != nil {
		b = appendProgramSetting(append(b, `,"connection_cap":`...), c.Program, c.Setting, c.Value, c.Default, c.Source, c.Detail)
		if c.Refuses {
			b = append(b, `,"refuses":true`...)
		}
		if c.Held != nil {
			b = appendUint(b, `,"held":`, uint64(*c.Held))
		}
		b = append(b, '}')
	}
	return b
}

// appendProgramSetting appends the fields ConfiguredBacklog and
// ConnectionCap share, as encoding/json marshals them, after an opening
// brace and without the closing one.
func appendProgramSetting(b []byte, program, setting string, value int64, def bool, source, detail string) []byte {
	b = jsonfmt.AppendString(append(b, `{"program":`...), program)
	b = jsonfmt.AppendString(append(b, `,"setting":`...), setting)
	b = appendInt(b, `,"value":`, value)
	if def {
		b = append(b, `,"default":true`...)
	}
	if source != "" {
		b = jsonfmt.AppendString(append(b, `,"source":`...), source)
	}
	if detail != "" {
		b = jsonfmt.AppendString(append(b, `,"detail":`...), detail)
	}
	return b
}

// appendJSON appends p as encoding/json marshals a Process.
func (p *Process) appendJSON(b []byte) []byte {
	b = appendInt(b, `{"pid":`, int64(p.PID))
	b = jsonfmt.AppendString(append(b, `,"comm":`...), p.Comm)
	b = appendInt(b, `,"open_fds":`, int64(p.OpenFDs))
	if p.FDsAboveLimit != 0 {
		b = appendInt(b, `,"fds_above_limit":`, int64(p.FDsAboveLimit))
	}
	b = appendUint(b, `,"nofile_soft":`, p.NofileSoft)
	b = appendUint(b, `,"nofile_hard":`, p.NofileHard)
	if p.Cmdline != "" {
		b = jsonfmt.AppendString(append(b, `,"cmdline":`...), p.Cmdline)
	}
	if p.State != "" {
		b = jsonfmt.AppendString(append(b, `,"state":`...), p.State)
	}
	if p.StartTime != nil {
		b = append(b, `,"start_time":"`...)
		b = append(p.StartTime.AppendFormat(b, time.RFC3339Nano), '"')
	}
	if p.GoVersion != "" {
		b = jsonfmt.AppendString(append(b, `,"go_version":`...), p.GoVersion)
	}
	for _, f := range [...]struct{ key, value string }{{`,"pod":`, p.Pod}, {`,"namespace":`, p.Namespace},
		{`,"container":`, p.Container}, {`,"container_id":`, p.ContainerID}, {`,"pod_uid":`, p.PodUID}} {
		if f.value != "" {
			b = jsonfmt.AppendString(append(b, f.key...), f.value)
		}
	}
	return append(b, '}')
}

func appendUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(b, key...), v, 10)
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}
