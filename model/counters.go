package model

// CounterNames are the counters every report carries, named as nstat(8)
// names them. Their meaning is in KeyCounters.
var CounterNames = []string{
	"TcpExtListenOverflows",
	"TcpExtListenDrops",
	"TcpExtTCPReqQFullDrop",
	"TcpExtTCPReqQFullDoCookies",
	"TcpExtSyncookiesSent",
	"TcpExtSyncookiesRecv",
	"TcpExtSyncookiesFailed",
}

// KeyCounters explains each counter in CounterNames in a line.
var KeyCounters = map[string]string{
	"TcpExtListenOverflows":      "SYN or final ACK dropped because an accept queue was full",
	"TcpExtListenDrops":          "any drop at a listener (includes every ListenOverflow)",
	"TcpExtTCPReqQFullDrop":      "SYN dropped: SYN queue full and syncookies off",
	"TcpExtTCPReqQFullDoCookies": "SYN answered with a cookie because the SYN queue was full (every SYN in mode 2)",
	"TcpExtSyncookiesSent":       "syncookies sent",
	"TcpExtSyncookiesRecv":       "valid syncookies received",
	"TcpExtSyncookiesFailed":     "invalid syncookies received",
}
