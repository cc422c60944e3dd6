package presence

// SetMaxDirected lowers the per-session bound of directed presence
// tracking for a test and returns a function restoring it.
func SetMaxDirected(n int) (restore func()) {
	old := maxDirected
	maxDirected = n
	return func() { maxDirected = old }
}
