//go:build !race

package muc_test

const raceEnabled = false
