package main

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/xml"
)

// waiter is one IQ request in flight: f runs in the reader goroutine on the
// answer (elements are only valid there), its error goes to done.
type waiter struct {
	f    func(el *xml.Element) error
	done chan error
}

var errIQError = errors.New("iq error")

// startReader hands the decoder to a goroutine that answers waiters and
// passes every other element to handle (which runs in that goroutine and
// must not keep el). end is called once when the stream ends.
func (s *session) startReader(handle func(el *xml.Element), end func(err error)) {
	s.conn.SetReadDeadline(time.Time{})
	go func() {
		for {
			el, err := s.dec.Next()
			if err != nil {
				s.failWaiters(err)
				if end != nil {
					end(err)
				}
				return
			}
			if el.Name() == "iq" && (el.Attr("type") == "result" || el.Attr("type") == "error") {
				if w := s.takeWaiter(el.Attr("id")); w != nil {
					var err error
					if w.f != nil {
						err = w.f(el)
					} else if el.Attr("type") == "error" {
						err = fmt.Errorf("%w: %s", errIQError, el)
					}
					w.done <- err
					continue
				}
			}
			if handle != nil {
				handle(el)
			}
		}
	}()
}

func (s *session) takeWaiter(id string) *waiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.waiters[id]
	delete(s.waiters, id)
	return w
}

func (s *session) failWaiters(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, w := range s.waiters {
		w.done <- fmt.Errorf("stream ended: %w", err)
		delete(s.waiters, id)
	}
}

var iqSeq atomic.Int64

// request sends an IQ built by stanza(id) and waits for its answer; f (may
// be nil: then an error answer is an error) inspects it in the reader.
// Needs startReader.
func (s *session) request(stanza func(id string) string, f func(el *xml.Element) error, timeout time.Duration) error {
	id := "q" + strconv.FormatInt(iqSeq.Add(1), 36)
	w := &waiter{f: f, done: make(chan error, 1)}
	s.mu.Lock()
	if s.waiters == nil {
		s.waiters = map[string]*waiter{}
	}
	s.waiters[id] = w
	s.mu.Unlock()
	if err := s.sendRaw(stanza(id)); err != nil {
		s.takeWaiter(id)
		return err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-w.done:
		return err
	case <-t.C:
		s.takeWaiter(id)
		return fmt.Errorf("no answer to iq %s in %s", id, timeout)
	}
}

// barrier pings the server through the reader: its answer means the server
// has handled everything this session sent before (stanzas of one stream
// are processed in order).
func (s *session) barrier(domain string, timeout time.Duration) error {
	return s.request(func(id string) string {
		return fmt.Sprintf("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id, domain)
	}, nil, timeout)
}
