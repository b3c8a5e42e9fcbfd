package model

import "time"

// SysctlChange is one change of a tunable that backlogctl itself made (tune
// records them) and that is still in force in this network namespace: a
// listener older than a somaxconn raise keeps the old clamp until it calls
// listen() again, so the judges need to know when.
type SysctlChange struct {
	Key  string    `json:"key"`
	From int64     `json:"from"`
	To   int64     `json:"to"`
	At   time.Time `json:"at"`
}
