//go:build race

package testutil

// raceEnabled: the race detector slows SQLite (compiled from C to Go) ten
// to twenty times, past any stated commit window.
const raceEnabled = true
