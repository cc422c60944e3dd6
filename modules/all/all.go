// Package all links every feature module into the binary. A new module
// adds its import here.
package all

import (
	_ "github.com/xmppd/xmppd/modules/adhoc"
	_ "github.com/xmppd/xmppd/modules/blocking"
	_ "github.com/xmppd/xmppd/modules/carbons"
	_ "github.com/xmppd/xmppd/modules/disco"
	_ "github.com/xmppd/xmppd/modules/entitytime"
	_ "github.com/xmppd/xmppd/modules/extdisco"
	_ "github.com/xmppd/xmppd/modules/invites"
	_ "github.com/xmppd/xmppd/modules/lastactivity"
	_ "github.com/xmppd/xmppd/modules/mam"
	_ "github.com/xmppd/xmppd/modules/muc"
	_ "github.com/xmppd/xmppd/modules/offline"
	_ "github.com/xmppd/xmppd/modules/ping"
	_ "github.com/xmppd/xmppd/modules/presence"
	_ "github.com/xmppd/xmppd/modules/private"
	_ "github.com/xmppd/xmppd/modules/pubsub"
	_ "github.com/xmppd/xmppd/modules/push"
	_ "github.com/xmppd/xmppd/modules/register"
	_ "github.com/xmppd/xmppd/modules/roster"
	_ "github.com/xmppd/xmppd/modules/upload"
	_ "github.com/xmppd/xmppd/modules/vcard"
	_ "github.com/xmppd/xmppd/modules/version"
)
