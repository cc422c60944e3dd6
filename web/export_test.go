package web

import "time"

// SetBOSHInactivity shortens the BOSH inactivity period for a test.
func SetBOSHInactivity(d time.Duration) (restore func()) {
	old := boshInactivity
	boshInactivity = d
	return func() { boshInactivity = old }
}

// ConverseVersion is the bundled web client's release.
var ConverseVersion = converseVersion
