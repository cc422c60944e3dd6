//go:build !race

package mam_test

const raceEnabled = false
