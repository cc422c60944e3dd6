package push

import (
	"context"

	"github.com/xmppd/xmppd/module"
)

// StoreOf is the module's store on db, for the wire tests to look at what
// the server kept.
func StoreOf(db module.SQL) interface {
	PushRegistrations(ctx context.Context, domain, username string) ([]Registration, error)
} {
	return sqlStore{db}
}
