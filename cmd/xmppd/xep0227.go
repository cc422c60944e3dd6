package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0227 portable import: accounts moved from another server (Prosody's
// prosody-migrator with its xep0227 store, ejabberd's export_piefxis) into
// xmppd's storage, with their credentials, rosters, vCards, private XML,
// offline messages, message archives (XEP-0227 §5.4, xep0227_archive.go)
// and PEP nodes (§5.3, xep0227_pubsub.go); and, beyond XEP-0227, the
// nodes of the pubsub.<host> service and the persistent rooms of the MUC
// service (xep0227_muc.go).

const (
	nsPIE      = "urn:xmpp:pie:0"
	nsPIESCRAM = "urn:xmpp:pie:0#scram"
	nsRoster   = "jabber:iq:roster"
	nsPrivate  = "jabber:iq:private"
	nsVCard    = "vcard-temp"
)

// pieStore is the part of the storage the import writes.
type pieStore interface {
	storage.Accounts
	storage.Rosters
	storage.PrivateXML
	storage.Offline
	storage.Archive
	storage.PubSub
	storage.MUCRooms
}

type pieCounts struct {
	accounts, skipped, roster, vcards, private, offline int
	archived, archivedThere                             int // messages stored, and found stored already (same id)
	nodes, nodesThere, items                            int // pubsub nodes (PEP and service) and their items
	rooms, roomsThere                                   int
	bad                                                 int // malformed elements reported and left out
}

// pieImport is one run of the import: what it writes to and reports on.
type pieImport struct {
	cfg   *config.Config
	db    pieStore
	n     *pieCounts
	warn  io.Writer
	file  string
	rooms map[string]map[string]bool // MUC service → rooms stored before the import
}

// warnf reports something left out or changed, naming the file.
func (im *pieImport) warnf(format string, args ...any) {
	fmt.Fprintf(im.warn, "xmppd import: %s: %s\n", im.file, fmt.Sprintf(format, args...))
}

// badf reports a malformed element that is left out.
func (im *pieImport) badf(format string, args ...any) {
	im.n.bad++
	im.warnf(format+": skipped", args...)
}

// Kinds of <host/> elements: a virtual host's accounts, or one of its
// services.
const (
	hostAccounts = iota + 1
	hostMUC
	hostPubSub
)

// pieHosts maps the domains an import may name to their kind.
func pieHosts(cfg *config.Config) map[string]int {
	m := map[string]int{}
	for _, d := range cfg.Domains() {
		m[mucConfig(cfg).Subdomain+"."+d] = hostMUC
		m["pubsub."+d] = hostPubSub
	}
	for _, d := range cfg.Domains() {
		m[d] = hostAccounts
	}
	return m
}

func importCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: xmppd import [-config FILE] FILE.xml ...\n\nImports XEP-0227 files: accounts and rooms that exist already are left as they are (their archives and PEP nodes are merged).")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	ctx := context.Background()
	cfg, db, err := openStorage(ctx, *cfgPath, true, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	var n pieCounts
	for _, f := range fs.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		im := &pieImport{cfg: cfg, db: db, n: &n, warn: stderr, file: f}
		if err := im.importPIE(ctx, data); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	fmt.Fprintf(stdout, "imported %d accounts (%d skipped: they exist), %d roster items, %d vCards, %d private XML items, %d offline messages, %d archived messages (%d there already), %d pubsub nodes (%d there already) with %d items, %d rooms (%d there already)\n",
		n.accounts, n.skipped, n.roster, n.vcards, n.private, n.offline, n.archived, n.archivedThere, n.nodes, n.nodesThere, n.items, n.rooms, n.roomsThere)
	if n.bad > 0 {
		fmt.Fprintf(stdout, "%d malformed elements were left out (reported above)\n", n.bad)
	}
	return nil
}

// importPIE imports one <server-data/> document.
func (im *pieImport) importPIE(ctx context.Context, data []byte) error {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	data = bytes.TrimSpace(data)
	if bytes.HasPrefix(data, []byte("<?xml")) {
		// The restricted parser takes no XML declaration inside a stream.
		if i := bytes.Index(data, []byte("?>")); i > 0 {
			data = data[i+2:]
		}
	}
	els, err := xml.ParseFragments(data)
	if err != nil {
		return fmt.Errorf("not well-formed XML: %w", err)
	}
	if len(els) != 1 || els[0].Name() != "server-data" || els[0].NS() != nsPIE {
		return errors.New("not an XEP-0227 document (<server-data xmlns='urn:xmpp:pie:0'/>)")
	}
	kinds := pieHosts(im.cfg)
	for host := range els[0].Children() {
		if host.Name() != "host" || host.NS() != nsPIE {
			continue
		}
		dj, err := jid.Parse(host.Attr("jid"))
		if err != nil || dj.Local() != "" || dj.Resource() != "" {
			return fmt.Errorf("<host jid=%q> is not a domain", host.Attr("jid"))
		}
		domain := dj.Domain()
		switch kinds[domain] {
		case hostAccounts:
			for u := range host.Children() {
				if u.Name() == "user" && u.NS() == nsPIE && err == nil {
					err = im.importUser(ctx, domain, u)
				}
			}
		case hostMUC:
			err = im.importRooms(ctx, domain, host)
		case hostPubSub:
			err = im.importService(ctx, domain, host)
		default:
			return fmt.Errorf("host %s is not one of the configured hosts (or their %s. and pubsub. services)", domain, mucConfig(im.cfg).Subdomain)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// importUser imports one account. One that exists already keeps its
// credentials, roster, vCard, private XML and offline messages (which
// would be replaced or doubled); its archive and PEP nodes are merged, as
// a second import of the same file merges them: messages whose id is
// stored already and nodes that exist are left as they are.
func (im *pieImport) importUser(ctx context.Context, domain string, u *xml.Element) error {
	cfg, db, n, warn := im.cfg, im.db, im.n, im.warn
	acct, err := jid.New(u.Attr("name"), domain, "")
	if err != nil {
		return fmt.Errorf("user %q of %s: %w", u.Attr("name"), domain, err)
	}
	creds, err := pieCredentials(u)
	if err != nil {
		return fmt.Errorf("%s: %w", acct, err)
	}
	exists := false
	if err := db.CreateAccount(ctx, domain, acct.Local(), creds); errors.Is(err, storage.ErrExists) {
		im.warnf("%s exists already: left as it is (its archive and PEP nodes are merged)", acct)
		n.skipped++
		exists = true
	} else if err != nil {
		return fmt.Errorf("create %s: %w", acct, err)
	} else {
		n.accounts++
	}
	if len(creds) < 3 && !exists {
		fmt.Fprintf(warn, "xmppd import: %s has keys for %s only: it logs in with that SCRAM mechanism or PLAIN until its password is set again or a SASL2 client runs the XEP-0480 upgrade tasks ([auth] mechanisms can offer only those meanwhile)\n",
			acct, hashes(creds))
	}
	var owner, items *xml.Element
	for ch := range u.Children() {
		switch {
		case ch.Name() == "archive" && ch.NS() == nsPIEMAM:
			if err := im.importArchive(ctx, acct.String(), acct, false, ch); err != nil {
				return fmt.Errorf("%s archive: %w", acct, err)
			}
		case ch.Name() == "pubsub" && ch.NS() == nsPubSubOwner:
			owner = ch
		case ch.Name() == "pubsub" && ch.NS() == nsPubSub:
			items = ch
		case exists:
		case ch.Name() == "query" && ch.NS() == nsRoster:
			for it := range ch.Children() {
				if it.Name() != "item" {
					continue
				}
				item, err := pieRosterItem(it)
				if err != nil {
					return fmt.Errorf("%s roster: %w", acct, err)
				}
				if _, err := db.SetRosterItem(ctx, domain, acct.Local(), item); err != nil {
					return fmt.Errorf("%s roster: %w", acct, err)
				}
				n.roster++
			}
		case ch.Name() == "vCard" && ch.NS() == nsVCard:
			if err := db.SetPrivate(ctx, domain, acct.Local(), storage.VCardKey, ch.Append(nil, "")); err != nil {
				return fmt.Errorf("%s vCard: %w", acct, err)
			}
			n.vcards++
		case ch.Name() == "query" && ch.NS() == nsPrivate:
			for p := range ch.Children() {
				if err := db.SetPrivate(ctx, domain, acct.Local(), storage.PrivateKey(p.NS(), p.Name()), p.Append(nil, "")); err != nil {
					return fmt.Errorf("%s private XML: %w", acct, err)
				}
				n.private++
			}
		case ch.Name() == "offline-messages":
			for m := range ch.Children() {
				if m.Name() != "message" {
					continue
				}
				if err := db.StoreOffline(ctx, domain, acct.Local(), m.Append(nil, xml.NSClient), delayStamp(m), offlineLimit(cfg)); err != nil {
					return fmt.Errorf("%s offline messages: %w", acct, err)
				}
				n.offline++
			}
		}
	}
	if owner != nil || items != nil {
		if err := im.importNodes(ctx, acct.String(), &acct, owner, items); err != nil {
			return fmt.Errorf("%s PEP: %w", acct, err)
		}
	}
	return nil
}

// pieCredentials: a clear-text password gives keys for every hash; SCRAM
// keys (XEP-0227 §3.1) are taken as they are, for their hash only.
func pieCredentials(u *xml.Element) ([]storage.Credential, error) {
	if pw := u.Attr("password"); pw != "" {
		out, err := storedCredentials(pw)
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		return out, nil
	}
	seen := map[string]bool{}
	var out []storage.Credential
	for sc := range u.Children() {
		if sc.Name() != "scram-credentials" || sc.NS() != nsPIESCRAM {
			continue
		}
		hash := strings.TrimPrefix(sc.Attr("mechanism"), "SCRAM-")
		if hash != auth.SHA1 && hash != auth.SHA256 && hash != auth.SHA512 {
			continue // another mechanism (-PLUS is the same keys)
		}
		if seen[hash] {
			continue // Prosody repeats the element
		}
		c := storage.Credential{Hash: hash}
		var err error
		dec := func(name string) []byte {
			el := sc.Child(name, nsPIESCRAM)
			if el == nil || err != nil {
				err = fmt.Errorf("%s keys without <%s/>", sc.Attr("mechanism"), name)
				return nil
			}
			b, e := base64.StdEncoding.DecodeString(strings.TrimSpace(el.Text()))
			if e != nil {
				err = fmt.Errorf("%s <%s/>: %w", sc.Attr("mechanism"), name, e)
			}
			return b
		}
		c.Salt, c.StoredKey, c.ServerKey = dec("salt"), dec("stored-key"), dec("server-key")
		if err != nil {
			return nil, err
		}
		it := sc.Child("iter-count", nsPIESCRAM)
		if it == nil {
			return nil, fmt.Errorf("%s keys without <iter-count/>", sc.Attr("mechanism"))
		}
		if c.Iterations, err = strconv.Atoi(strings.TrimSpace(it.Text())); err != nil || c.Iterations < 1 {
			return nil, fmt.Errorf("%s <iter-count/> %q", sc.Attr("mechanism"), it.Text())
		}
		seen[hash] = true
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no password and no SCRAM keys")
	}
	return out, nil
}

func hashes(cs []storage.Credential) string {
	var h []string
	for _, c := range cs {
		h = append(h, "SCRAM-"+c.Hash)
	}
	return strings.Join(h, ", ")
}

// pieRosterItem reads a jabber:iq:roster <item/> as stored (RFC 6121 §2.1.2).
func pieRosterItem(it *xml.Element) (storage.RosterItem, error) {
	j, err := jid.Parse(it.Attr("jid"))
	if err != nil {
		return storage.RosterItem{}, fmt.Errorf("item jid %q: %w", it.Attr("jid"), err)
	}
	sub := it.Attr("subscription")
	switch sub {
	case "":
		sub = "none"
	case "none", "to", "from", "both":
	default:
		return storage.RosterItem{}, fmt.Errorf("item %s: subscription %q", j, sub)
	}
	item := storage.RosterItem{JID: j.Bare().String(), Name: it.Attr("name"), Subscription: sub, Ask: it.Attr("ask") == "subscribe"}
	seen := map[string]bool{}
	for g := range it.Children() {
		if g.Name() == "group" && !seen[g.Text()] && g.Text() != "" {
			seen[g.Text()] = true
			item.Groups = append(item.Groups, g.Text())
		}
	}
	return item, nil
}

// delayStamp is an offline message's XEP-0203 stamp, or now.
func delayStamp(m *xml.Element) time.Time {
	if d := m.Child("delay", "urn:xmpp:delay"); d != nil {
		if t, err := time.Parse(time.RFC3339, d.Attr("stamp")); err == nil {
			return t
		}
	}
	return time.Now()
}

// exportCmd writes the accounts of the given hosts (all by default) as one
// XEP-0227 document: SCRAM keys for every hash kept (no password: xmppd
// never has it), rosters, vCards, private XML, offline messages, archives
// and PEP nodes; then each host's pubsub service nodes and MUC rooms.
func exportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML)")
	outPath := fs.String("o", "", "write to this file instead of standard output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: xmppd export [-config FILE] [-o FILE.xml] [DOMAIN ...]\n\nWrites the hosts' accounts, archives, PEP and pubsub nodes and MUC rooms as an XEP-0227 document (xmppd import reads it back).")
		fs.PrintDefaults()
	}
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	ctx := context.Background()
	cfg, db, err := openStorage(ctx, *cfgPath, false, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	domains := fs.Args()
	if len(domains) == 0 {
		domains = cfg.Domains()
	}
	served := map[string]bool{}
	for _, d := range cfg.Domains() {
		served[d] = true
	}
	for _, d := range domains {
		if !served[d] {
			return fmt.Errorf("domain %s is not one of the configured hosts", d)
		}
	}
	if *outPath == "" {
		_, err := exportPIE(ctx, cfg, db, domains, stdout, stderr)
		return err
	}
	f, err := os.OpenFile(*outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600) // keys are secrets
	if err != nil {
		return err
	}
	n, err := exportPIE(ctx, cfg, db, domains, f, stderr)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exported %d accounts, %d archived messages, %d pubsub nodes, %d rooms to %s\n", n.accounts, n.archived, n.nodes, n.rooms, *outPath)
	return nil
}

// pieExport writes one document, a part at a time: archives are read
// and written a page at a time, never held whole.
type pieExport struct {
	db   pieStore
	w    io.Writer
	buf  []byte
	warn io.Writer
	n    pieCounts
}

func (ex *pieExport) flush(force bool) error {
	if len(ex.buf) < 64<<10 && !force {
		return nil
	}
	_, err := ex.w.Write(ex.buf)
	ex.buf = ex.buf[:0]
	return err
}

func (ex *pieExport) warnf(format string, args ...any) {
	fmt.Fprintf(ex.warn, "xmppd export: %s\n", fmt.Sprintf(format, args...))
}

// reopen takes the end tag off a serialized element (or turns <x/> into
// <x>) so that more children can be written into it.
func reopen(buf []byte, name string) []byte {
	if end := "</" + name + ">"; bytes.HasSuffix(buf, []byte(end)) {
		return buf[:len(buf)-len(end)]
	}
	return append(bytes.TrimSuffix(buf, []byte("/>")), '>')
}

// exportPIE writes the accounts of domains, then the rooms of their MUC
// services and the nodes of their pubsub services, each service as a
// <host/> of its own.
func exportPIE(ctx context.Context, cfg *config.Config, db pieStore, domains []string, w io.Writer, warn io.Writer) (pieCounts, error) {
	ex := &pieExport{db: db, w: w, warn: warn}
	ex.buf = append(ex.buf, "<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='"+nsPIE+"'>\n"...)
	for _, d := range domains {
		users, err := db.ListAccounts(ctx, d)
		if err != nil {
			return ex.n, err
		}
		ex.buf = append(ex.buf, "<host jid='"...)
		ex.buf = xml.EscapeAttr(ex.buf, d)
		ex.buf = append(ex.buf, "'>\n"...)
		for _, u := range users {
			if err := ex.user(ctx, d, u); err != nil {
				return ex.n, fmt.Errorf("%s@%s: %w", u, d, err)
			}
			ex.buf = append(ex.buf, '\n')
			ex.n.accounts++
			if err := ex.flush(false); err != nil {
				return ex.n, err
			}
		}
		ex.buf = append(ex.buf, "</host>\n"...)
		if err := ex.rooms(ctx, mucConfig(cfg).Subdomain+"."+d); err != nil {
			return ex.n, err
		}
		if err := ex.service(ctx, "pubsub."+d); err != nil {
			return ex.n, err
		}
	}
	ex.buf = append(ex.buf, "</server-data>\n"...)
	return ex.n, ex.flush(true)
}

// user writes one account: its data, then its archive.
func (ex *pieExport) user(ctx context.Context, domain, user string) error {
	el, err := exportUser(ctx, ex.db, domain, user, ex.warn, &ex.n)
	if err != nil {
		return err
	}
	ex.buf = reopen(el.Append(ex.buf, nsPIE), "user")
	if err := ex.archive(ctx, user+"@"+domain); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	ex.buf = append(ex.buf, "</user>"...)
	return nil
}

func exportUser(ctx context.Context, db pieStore, domain, user string, warn io.Writer, n *pieCounts) (*xml.Element, error) {
	b := xml.NewBuilder("user", nsPIE).Attr("name", user)
	e := base64.StdEncoding.EncodeToString
	for _, h := range []string{auth.SHA1, auth.SHA256, auth.SHA512} {
		c, err := db.Credential(ctx, domain, user, h)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		b.Start("scram-credentials", nsPIESCRAM).Attr("mechanism", "SCRAM-"+h).
			Start("server-key", "").Text(e(c.ServerKey)).End().
			Start("stored-key", "").Text(e(c.StoredKey)).End().
			Start("iter-count", "").Text(strconv.Itoa(c.Iterations)).End().
			Start("salt", "").Text(e(c.Salt)).End().
			End()
	}
	items, _, err := db.Roster(ctx, domain, user)
	if err != nil {
		return nil, err
	}
	if len(items) > 0 {
		b.Start("query", nsRoster)
		for _, it := range items {
			if it.Placeholder {
				continue // no roster item: only a pending request
			}
			b.Start("item", "").Attr("jid", it.JID).Attr("subscription", it.Subscription)
			if it.Name != "" {
				b.Attr("name", it.Name)
			}
			if it.Ask {
				b.Attr("ask", "subscribe")
			}
			for _, g := range it.Groups {
				b.Start("group", "").Text(g).End()
			}
			b.End()
		}
		b.End()
	}
	keys, err := db.PrivateKeys(ctx, domain, user)
	if err != nil {
		return nil, err
	}
	var priv []*xml.Element
	for _, k := range keys {
		data, err := db.GetPrivate(ctx, domain, user, k)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			continue
		}
		els, err := xml.ParseFragments(data)
		if err != nil || len(els) != 1 {
			fmt.Fprintf(warn, "xmppd export: %s@%s: stored %q is not one element: left out\n", user, domain, k)
			continue
		}
		switch {
		case k == storage.VCardKey:
			b.Append(els[0])
		case strings.HasPrefix(k, "{"):
			priv = append(priv, els[0])
		default:
			fmt.Fprintf(warn, "xmppd export: %s@%s: unknown private key %q: left out\n", user, domain, k)
		}
	}
	if len(priv) > 0 {
		b.Start("query", nsPrivate)
		for _, p := range priv {
			b.Append(p)
		}
		b.End()
	}
	msgs, err := db.OfflineMessages(ctx, domain, user)
	if err != nil {
		return nil, err
	}
	if len(msgs) > 0 {
		b.Start("offline-messages", "")
		for _, m := range msgs {
			els, err := xml.ParseFragments(m.Stanza)
			if err != nil || len(els) != 1 {
				fmt.Fprintf(warn, "xmppd export: %s@%s: an offline message is not one element: left out\n", user, domain)
				continue
			}
			b.Append(els[0])
		}
		b.End()
	}
	warnf := func(format string, args ...any) {
		fmt.Fprintf(warn, "xmppd export: %s\n", fmt.Sprintf(format, args...))
	}
	k, err := exportNodes(ctx, db, b, user+"@"+domain, warnf)
	if err != nil {
		return nil, fmt.Errorf("PEP: %w", err)
	}
	n.nodes += k
	return b.Element(), nil
}
