package stream

import "github.com/xmppd/xmppd/xml"

// FeaturesOpen and FeaturesClose enclose the features a stream offers
// (RFC 6120 §4.3.2), with the stream prefix every client looks for.
const (
	FeaturesOpen  = "<stream:features>"
	FeaturesClose = "</stream:features>"
)

// AppendFeatures writes <stream:features/> holding the children of el
// (built with xml.NewBuilder("features", xml.NSStream)); children in
// jabber:client need no declaration.
func AppendFeatures(b []byte, el *xml.Element) []byte {
	b = append(b, FeaturesOpen...)
	for ch := range el.Children() {
		b = ch.Append(b, xml.NSClient)
	}
	return append(b, FeaturesClose...)
}
