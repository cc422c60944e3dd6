package pubsub

import (
	"context"

	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// profiles holds the state of the PEP profiles.
type profiles struct{}

func (m *mod) startProfiles() {}
func (m *mod) stopProfiles()  {}

// published runs after every publish on either service.
func (m *mod) published(ctx context.Context, svc engine.Service, node string, it storage.PubSubItem, payload *xml.Element) {
}

// retracted runs after every retraction.
func (m *mod) retracted(ctx context.Context, svc engine.Service, node, id string) {}
