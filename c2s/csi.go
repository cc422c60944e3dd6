package c2s

import "github.com/xmppd/xmppd/xml"

// XEP-0352 client state indication. A client that says it is inactive (a
// phone in a pocket) is not woken for what can wait: presence updates and
// chat states are held, the newest per sender kept, and go out, in the
// order they first arrived, before the next stanza that matters (a message,
// an IQ, a subscription request) or when the client becomes active again.
// This is what Prosody's mod_csi_simple and ejabberd's mod_client_state do.

const (
	nsCSI         = "urn:xmpp:csi:0"
	nsChatStates  = "http://jabber.org/protocol/chatstates"
	nsPubSubEvent = "http://jabber.org/protocol/pubsub#event"
	// maxHeld bounds what an inactive session holds; past it everything
	// held goes out.
	maxHeld = 500
)

type csiState struct {
	inactive bool
	held     []*xml.Element
	key      map[string]int // sender (and kind) → index in held
}

// csiNonza handles <active/> and <inactive/>.
func (c *conn) csiNonza(el *xml.Element) error {
	c.wmu.Lock()
	switch el.Name() {
	case "inactive":
		c.csi.inactive = true
	case "active":
		c.csi.inactive = false
		if len(c.csi.held) > 0 {
			c.csiFlushLocked()
			a := c.queuedLocked()
			c.wmu.Unlock()
			c.afterQueue(a, nil)
			return nil
		}
	}
	c.wmu.Unlock()
	return nil
}

// csiKey says whether el can wait while the client is inactive, and under
// which key a newer stanza replaces it.
func csiKey(el *xml.Element) (string, bool) {
	switch el.Name() {
	case "presence":
		switch el.Attr("type") {
		case "", "unavailable":
			return "p\x00" + el.Attr("from"), true
		}
	case "message":
		// A PEP notification (XEP-0163: avatars, nicknames, device
		// lists): only the newest per sender and node matters.
		if ev := el.Child("event", nsPubSubEvent); ev != nil && el.Child("body", xml.NSClient) == nil {
			node := ""
			if it := ev.FirstChild(); it != nil {
				node = it.Attr("node")
			}
			return "e\x00" + el.Attr("from") + "\x00" + node, true
		}
		// Only a bare chat state notification (XEP-0085): nothing a user
		// would want to be woken for.
		n := 0
		for ch := range el.Children() {
			if ch.NS() != nsChatStates {
				return "", false
			}
			n++
		}
		if n > 0 && el.Attr("type") != "error" {
			return "c\x00" + el.Attr("from"), true
		}
	}
	return "", false
}

// csiHoldLocked keeps el back if it can wait (wmu held).
func (c *conn) csiHoldLocked(el *xml.Element) bool {
	k, ok := csiKey(el)
	if !ok || len(c.csi.held) >= maxHeld {
		return false
	}
	if c.csi.key == nil {
		c.csi.key = map[string]int{}
	}
	if i, dup := c.csi.key[k]; dup {
		c.csi.held[i] = el
		return true
	}
	c.csi.key[k] = len(c.csi.held)
	c.csi.held = append(c.csi.held, el)
	return true
}

// csiFlushLocked queues everything held for writing (wmu held); the
// caller then has the writer started (queuedLocked, afterQueue).
func (c *conn) csiFlushLocked() {
	held := c.csi.held
	c.csi.held = nil
	clear(c.csi.key)
	for _, el := range held {
		if !c.appendLocked(el) {
			return
		}
	}
}
