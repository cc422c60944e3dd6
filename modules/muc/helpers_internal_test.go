package muc

// settle waits until every room's runner has emptied its mailbox. For
// tests that post from one goroutine and then look at what was routed.
func (m *mod) settle() { m.runners.Wait() }
