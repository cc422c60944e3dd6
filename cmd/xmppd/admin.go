package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xmppd/xmppd/internal/admin"
	"github.com/xmppd/xmppd/jid"
)

// adminClient talks to a running server's admin listener.
type adminClient struct {
	base  string // http://host:port
	token string // [admin] token_file's, if the configuration has one
	http  *http.Client
}

// newAdminClient finds the admin listener in the configuration (or takes
// -admin), so the CLI reaches the server the file describes.
func newAdminClient(name string, args []string, stderr io.Writer) (*adminClient, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "configuration file (TOML); its admin listener is where the server is asked, with its [admin] token")
	addr := fs.String("admin", "", "address of the admin listener (host:port), instead of the configuration's")
	if err := parseArgs(fs, args); err != nil {
		return nil, nil, err
	}
	a, token := *addr, ""
	if a == "" || *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return nil, nil, err
		}
		if a == "" {
			l, ok := cfg.Admin()
			if !ok {
				return nil, nil, errors.New(`the configuration has no [[listen]] with type = "admin": the server offers no admin API to ask`)
			}
			a = l.Address
		}
		if path := cfg.AdminTokenPath(); path != "" {
			if token, _, err = admin.LoadToken(path, false); err != nil {
				return nil, nil, fmt.Errorf("%w (xmppd writes it when it starts; run this command as a user who may read it)", err)
			}
		}
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return nil, nil, fmt.Errorf("admin address %q: %w", a, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		// Listening on every interface: loopback is one of them.
		host = "127.0.0.1"
	}
	return &adminClient{base: "http://" + net.JoinHostPort(host, port), token: token, http: &http.Client{Timeout: 10 * time.Second}}, fs, nil
}

// do sends a request and decodes a JSON answer into v.
func (c *adminClient) do(method, path string, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the xmppd admin API at %s: is the server running? (%w)", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e admin.Error
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

func status(args []string, stdout, stderr io.Writer) error {
	c, fs, err := newAdminClient("status", args, stderr)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("status: unexpected argument %q", fs.Arg(0))
	}
	var st admin.Status
	if err := c.do("GET", admin.PathStatus, nil, &st); err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "version\t%s\n", st.Version)
	fmt.Fprintf(w, "uptime\t%s (since %s)\n", (time.Duration(st.UptimeSeconds) * time.Second).String(), st.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "hosts\t%s\n", strings.Join(st.Hosts, ", "))
	for i, l := range st.Listeners {
		label := ""
		if i == 0 {
			label = "listeners"
		}
		tls := ""
		if l.TLS != "" {
			tls = " (" + l.TLS + ")"
		}
		fmt.Fprintf(w, "%s\t%s %s%s\n", label, l.Type, l.Address, tls)
	}
	fmt.Fprintf(w, "sessions\t%d\n", st.Sessions)
	fmt.Fprintf(w, "connections\t%d\n", st.Connections)
	fmt.Fprintf(w, "goroutines\t%d\n", st.Goroutines)
	fmt.Fprintf(w, "memory\t%.1f MiB from the OS, %.1f MiB heap\n", float64(st.MemorySysBytes)/(1<<20), float64(st.MemoryHeapBytes)/(1<<20))
	if cl := st.Cluster; cl != nil {
		health := "healthy (in touch with a majority: takes logins)"
		if !cl.Healthy {
			health = "CUT OFF from the majority: takes no logins"
		}
		fmt.Fprintf(w, "cluster\tthis node %s, %s\n", cl.Node, health)
		fmt.Fprintf(w, "cluster sessions\t%d (%d on this node)\n", cl.Sessions, cl.LocalSessions)
		for i, n := range cl.Nodes {
			label := ""
			if i == 0 {
				label = "cluster nodes"
			}
			seen := "this node"
			if !n.Self {
				seen = "heard from " + time.Since(n.LastSeen).Round(100*time.Millisecond).String() + " ago"
			}
			fmt.Fprintf(w, "%s\t%s (%s): %d sessions, %s\n", label, n.Name, n.ID, n.Sessions, seen)
		}
		nats := "external"
		if cl.NATS.Embedded {
			nats = fmt.Sprintf("embedded, %d route connections", cl.NATS.Routes)
		}
		conn := "connected"
		if !cl.NATS.Connected {
			conn = "DISCONNECTED"
		}
		fmt.Fprintf(w, "NATS\t%s, %s, %d msgs in, %d out\n", nats, conn, cl.NATS.InMsgs, cl.NATS.OutMsgs)
		fmt.Fprintf(w, "dead nodes\t%d noticed, %d buried by this node\n", cl.DeadNodes, cl.Burials)
	}
	return w.Flush()
}

func session(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return flag.ErrHelp
	}
	sub := args[0]
	c, fs, err := newAdminClient("session "+sub, args[1:], stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		var ss []admin.Session
		if err := c.do("GET", admin.PathSessions, nil, &ss); err != nil {
			return err
		}
		clustered := slices.ContainsFunc(ss, func(s admin.Session) bool { return s.Node != "" })
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if clustered {
			fmt.Fprint(w, "NODE\t")
		}
		fmt.Fprintln(w, "JID\tIP\tSINCE\tTRANSPORT\tTLS\tSM")
		for _, s := range ss {
			if clustered {
				fmt.Fprintf(w, "%s\t", s.Node)
			}
			if s.Transport == "" {
				// Another node's session: only the directory's view.
				fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\n", s.JID)
				continue
			}
			sm := "no"
			if s.SM {
				sm = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", s.JID, s.IP, s.Since.UTC().Format(time.RFC3339), s.Transport, s.TLSVersion, sm)
		}
		return w.Flush()
	case "kick":
		if fs.NArg() != 1 {
			return errors.New("session kick: expected one full JID (user@domain/resource)")
		}
		if j, err := jid.Parse(fs.Arg(0)); err != nil || !j.IsFull() {
			return fmt.Errorf("%q is not a full JID (user@domain/resource)", fs.Arg(0))
		}
		var res map[string]string
		if err := c.do("POST", admin.PathKick, admin.Kick{JID: fs.Arg(0)}, &res); err != nil {
			return err
		}
		if res["node"] != "" {
			fmt.Fprintf(stdout, "kicked: %s (on node %s)\n", res["kicked"], res["node"])
			return nil
		}
		fmt.Fprintf(stdout, "kicked: %s\n", res["kicked"])
		return nil
	}
	usage(stderr)
	return flag.ErrHelp
}
