package xml

import (
	"bytes"
	"errors"
	"fmt"
)

const (
	fragmentsOpen  = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	fragmentsClose = "</stream:stream>"
)

// ParseFragments reads back elements serialized with Element.Append(buf,
// "") one after the other (what storage keeps: private XML, vCards,
// archived stanzas). They are wrapped in a stream header and read with
// the stream decoder; the data passed a session's limits once, so the
// limits here only re-admit it.
func ParseFragments(data []byte) ([]*Element, error) {
	var buf bytes.Buffer
	buf.Grow(len(fragmentsOpen) + len(data) + len(fragmentsClose))
	buf.WriteString(fragmentsOpen)
	buf.Write(data)
	buf.WriteString(fragmentsClose)
	lim := Limits{MaxStanzaBytes: len(data) + len(fragmentsOpen) + 1, MaxDepth: 1000, MaxAttrs: 1000}
	d := NewDecoder(&buf, lim)
	if _, err := d.ReadHeader(); err != nil {
		return nil, err
	}
	var out []*Element
	for {
		el, err := d.Next()
		if errors.Is(err, ErrStreamEnd) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, el)
	}
}

// ParseFragment reads back one element serialized with Element.Append(buf,
// ""), as ParseFragments does; data holding no element or more than one is
// an error.
func ParseFragment(data []byte) (*Element, error) {
	els, err := ParseFragments(data)
	if err != nil {
		return nil, err
	}
	if len(els) != 1 {
		return nil, fmt.Errorf("xml: %d elements where one was stored", len(els))
	}
	return els[0], nil
}
