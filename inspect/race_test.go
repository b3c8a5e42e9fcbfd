//go:build race

package inspect

// raceEnabled says the race detector is on; it changes allocation sizes.
const raceEnabled = true
