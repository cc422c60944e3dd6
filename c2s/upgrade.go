package c2s

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0480 SASL upgrade tasks over XEP-0388's <continue/>: accounts with
// SHA-1 keys only (imported from Prosody) get SHA-256 and SHA-512 keys the
// next time their client authenticates with SASL2 and asks for them.

const (
	nsSASLUpgrade  = "urn:xmpp:sasl:upgrade:0"
	nsSCRAMUpgrade = "urn:xmpp:scram-upgrade:0"
)

// appendUpgradeFeature lists the upgrade tasks in <authentication/>
// (XEP-0480 §2.1). Before authentication the account is unknown (looking
// it up from the stream's from would tell who exists), so every task the
// server can run is offered; after it, only those the account needs run.
func appendUpgradeFeature(b []byte) []byte {
	tasks, _ := auth.UpgradeTasks()
	for _, t := range tasks {
		b = append(b, "<upgrade xmlns='"+nsSASLUpgrade+"'>"...)
		b = xml.EscapeText(b, t)
		b = append(b, "</upgrade>"...)
	}
	return b
}

// upgradesWanted lists the tasks the client asked for in <authenticate/>
// that the account needs: the server runs them, and offers the hash for
// each. Unknown task names are ignored (§2.2); a store error skips the
// upgrade, which the next login can do.
func (c *conn) upgradesWanted(req *xml.Element, bare jid.JID) (tasks, hashes []string) {
	all, allHashes := auth.UpgradeTasks()
	var asked []string
	for ch := range req.Children() {
		if ch.Name() == "upgrade" && ch.NS() == nsSASLUpgrade {
			asked = append(asked, strings.TrimSpace(ch.Text()))
		}
	}
	for i, t := range all {
		if !slices.Contains(asked, t) || slices.Contains(tasks, t) {
			continue
		}
		_, err := c.srv.cfg.Accounts.Credential(&c.life, c.domain, bare.Local(), allHashes[i])
		switch {
		case errors.Is(err, storage.ErrNotFound):
			tasks, hashes = append(tasks, t), append(hashes, allHashes[i])
		case err != nil:
			c.logger().Warn("SASL upgrade skipped", "account", bare.String(), "err", err)
			return nil, nil
		}
	}
	return tasks, hashes
}

// runUpgrades runs the tasks after the SASL mechanism succeeded and before
// <success/> (XEP-0388 §2.6.3): a <continue/> offers the tasks left, the
// client picks one with <next/>, the server sends the salt and iteration
// count, the client its SaltedPassword (XEP-0480 §3), and the keys derived
// from it are stored. out is the mechanism's additional data, sent in the
// first <continue/>. ok false: the exchange ended with a <failure/> and
// err says whether the stream goes on.
func (c *conn) runUpgrades(bare jid.JID, tasks, hashes []string, out []byte) (ok bool, err error) {
	for len(tasks) > 0 {
		b := xml.NewBuilder("continue", nsSASL2)
		if len(out) > 0 {
			b.Start("additional-data", "").Text(base64.StdEncoding.EncodeToString(out)).End()
			out = nil
		}
		b.Start("tasks", "")
		for _, t := range tasks {
			b.Start("task", "").Text(t).End()
		}
		b.End()
		next, err := c.sasl2Read(b.Element().Append(nil, ""))
		if next == nil {
			return false, err
		}
		i := slices.Index(tasks, next.Attr("task"))
		if next.Name() != "next" || i < 0 {
			return false, c.saslFailure("malformed-request", "expected <next/> with an offered task")
		}
		salt, iter := auth.UpgradeSalt(), auth.DefaultIterations
		td := xml.NewBuilder("task-data", nsSASL2).
			Start("salt", nsSCRAMUpgrade).Attr("iterations", strconv.Itoa(iter)).Text(base64.StdEncoding.EncodeToString(salt)).End().
			Element()
		data, err := c.sasl2Read(td.Append(nil, ""))
		if data == nil {
			return false, err
		}
		h := data.Child("hash", nsSCRAMUpgrade)
		if data.Name() != "task-data" || h == nil {
			return false, c.saslFailure("malformed-request", "expected <task-data/> with <hash/>")
		}
		sp, e := base64.StdEncoding.DecodeString(strings.TrimSpace(h.Text()))
		if e != nil || len(sp) == 0 {
			return false, c.saslFailure("incorrect-encoding", "")
		}
		cred, e := auth.UpgradeCredential(hashes[i], sp, salt, iter)
		if e != nil {
			return false, c.saslFailure("malformed-request", "the hash is not a "+hashes[i]+" salted password")
		}
		if e := c.addCredential(bare, cred); e != nil {
			c.logger().Error("SASL upgrade not stored", "account", bare.String(), "hash", cred.Hash, "err", e)
			return false, c.saslFailure("temporary-auth-failure", "")
		}
		c.logger().Info("SASL upgrade", "account", bare.String(), "hash", cred.Hash)
		tasks, hashes = slices.Delete(tasks, i, i+1), slices.Delete(hashes, i, i+1)
	}
	return true, nil
}

// sasl2Read sends msg and reads the client's answer in the SASL2
// namespace. A nil element with nil error means the client aborted and
// was answered.
func (c *conn) sasl2Read(msg []byte) (*xml.Element, error) {
	if err := c.write(msg); err != nil {
		return nil, err
	}
	el, err := c.dec.Next()
	if err != nil {
		return nil, c.readError(err)
	}
	if el.NS() != nsSASL2 {
		return nil, &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "SASL negotiation in progress"}
	}
	if el.Name() == "abort" {
		return nil, c.saslFailure("aborted", "")
	}
	return el, nil
}

// addCredential adds cred to the account's keys. The store replaces all of
// them at once, so the others are read first. If the account has keys for
// cred's hash by now, the password was set during the task (that sets every
// hash): they are left alone, or the old password would come back for one
// mechanism.
func (c *conn) addCredential(bare jid.JID, cred auth.Credential) error {
	var creds []storage.Credential
	for _, h := range []string{auth.SHA1, auth.SHA256, auth.SHA512} {
		sc, err := c.srv.cfg.Accounts.Credential(&c.life, c.domain, bare.Local(), h)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return fmt.Errorf("read %s credential: %w", h, err)
		case h == cred.Hash:
			c.logger().Info("SASL upgrade not needed any more", "account", bare.String(), "hash", h)
			return nil
		default:
			creds = append(creds, sc)
		}
	}
	if len(creds) == 0 {
		return errors.New("the account has no credentials left")
	}
	creds = append(creds, storage.Credential(cred))
	if err := c.srv.cfg.Accounts.SetCredentials(&c.life, c.domain, bare.Local(), creds); err != nil {
		return fmt.Errorf("store %s credential: %w", cred.Hash, err)
	}
	return nil
}
