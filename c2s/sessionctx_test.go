package c2s_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// nsWatch is answered by a module registered only in this test binary: it
// watches the context its IQ handler got and closes the channel the test
// left under the IQ's id once that context ends.
const nsWatch = "urn:xmppd:test:watch-ctx"

var (
	watches sync.Map // iq id → chan struct{}
	watchN  atomic.Int64
)

type watchModule struct{}

func (watchModule) Start(h *module.Handle) error {
	h.HandleIQ(module.TargetAccount, "get", nsWatch, func(ctx context.Context, iq *module.IQ) (*xml.Element, error) {
		v, ok := watches.LoadAndDelete(iq.ID)
		if !ok {
			return nil, nil
		}
		ended := v.(chan struct{})
		h.Go(func(mctx context.Context) {
			select {
			case <-ctx.Done():
				close(ended)
			case <-mctx.Done():
			}
		})
		return nil, nil
	})
	return nil
}

func init() { module.Register("c2stest-watch", func() module.Module { return watchModule{} }) }

// watch asks the watch module to report when the context of a handler on
// c's session ends.
func watch(t *testing.T, c *testutil.Client) chan struct{} {
	t.Helper()
	id := fmt.Sprintf("watch-%d", watchN.Add(1))
	ended := make(chan struct{})
	watches.Store(id, ended)
	c.Send("<iq type='get' id='%s'><q xmlns='%s'/></iq>", id, nsWatch)
	if r := nextSkipR(c); r.Name() != "iq" || r.Attr("id") != id || r.Attr("type") != "result" {
		t.Fatalf("watch: %s", r)
	}
	return ended
}

func ended(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitEnded(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("handler context still live after %s", what)
	}
}

// A handler's context is the session's: it ends when the client goes.
func TestHandlerContextEndsWithSession(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	alice := testutil.Login(t, s, "alice", pw, "phone")
	ch := watch(t, alice)
	if ended(ch) {
		t.Fatal("handler context ended while the session is up")
	}
	alice.Conn.Close()
	waitEnded(t, ch, "the client disconnected")
}

// A resumable session outlives its broken transport (XEP-0198 §5), and so
// does its context; it ends when the session does.
func TestHandlerContextSurvivesHibernation(t *testing.T) {
	t.Run("resumed then closed", func(t *testing.T) {
		s := testutil.Start(t, "")
		s.AddUser(t, "alice", pw)
		alice := testutil.Login(t, s, "alice", pw, "phone")
		id := enable(t, alice, true).Attr("id")
		ch := watch(t, alice)
		alice.Conn.Close()

		a2, _ := authOnly(t, s, "alice")
		// h=1: the client had the watch's result.
		a2.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='1'/>", id)
		if el := a2.Next(); el.Name() != "resumed" {
			t.Fatalf("resume: %s", el)
		}
		// <resumed/> came after the old transport's reader ended.
		if ended(ch) {
			t.Fatal("handler context ended with the transport; the session lives on")
		}
		// A handler on the resumed stream has the session's context too.
		ch2 := watch(t, a2)
		a2.Send("</stream:stream>")
		waitEnded(t, ch, "the resumed session closed")
		waitEnded(t, ch2, "the resumed session closed")
	})
	t.Run("not resumed in time", func(t *testing.T) {
		s := testutil.Start(t, "[limits]\nresume_timeout = \"200ms\"\n")
		s.AddUser(t, "alice", pw)
		alice := testutil.Login(t, s, "alice", pw, "phone")
		enable(t, alice, true)
		ch := watch(t, alice)
		alice.Conn.Close()
		waitEnded(t, ch, "the resumption timeout")
	})
}
