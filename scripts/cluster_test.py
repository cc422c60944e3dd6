#!/usr/bin/python3
"""Drives real slixmpp clients across a three-node xmppd cluster and
kills one node with SIGKILL (scripts/cluster-test.sh starts the nodes).

usage: cluster_test.py N PW C2S1 C2S2 C2S3 ADMIN1 ADMIN2 ADMIN3 PID3

alice is on node 1, bob on node 2, carol on node 3 (C2Sn: host:port of
node n's STARTTLS listener; ADMINn: its admin listener; PID3: node 3's
process). Phase 1: each sends N chat messages to each of the others' full
JIDs; every one must arrive. Phase 2: alice and bob keep sending to each
other and to carol while node 3 is killed; the survivors' /metrics must
show the death within a few seconds; every alice<->bob message must
arrive. Carol then logs in on node 1 and collects her offline messages:
every message sent to her must have reached her: live on node 3 before
it died, or from offline storage (the senders' nodes route again what node
3 had not delivered). Where each went is reported. Prints one line per step and
"PASS" at the end; exits non-zero on a broken promise.
"""
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import time
import urllib.request

import slixmpp

N = int(sys.argv[1])
PW = sys.argv[2]
C2S = sys.argv[3:6]
ADMIN = sys.argv[6:9]
PID3 = int(sys.argv[9])
TIMEOUT = 20
RATE = 20  # messages per second per sender in phase 2


def fail(*what):
    print("FAIL", *what, flush=True)
    sys.exit(1)


class User:
    def __init__(self, name, node, resource="slix"):
        self.name, self.node = name, node
        self.bare = name + "@localhost"
        self.full = self.bare + "/" + resource
        self.got = []  # (from bare, body)
        self.started = asyncio.Event()
        self.gone = asyncio.Event()
        c = slixmpp.ClientXMPP(self.bare + "/" + resource, PW)
        c.ssl_context.check_hostname = False
        c.ssl_context.verify_mode = ssl.CERT_NONE
        c.add_event_handler("session_start", self.on_start)
        c.add_event_handler("message", self.on_message)
        c.add_event_handler("disconnected", lambda *_: self.gone.set())
        c.add_event_handler("failed_all_auth", lambda *_: fail(self.name, "authentication failed"))
        self.c = c

    async def on_start(self, _):
        self.c.send_presence()
        self.started.set()

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.got.append((msg["from"].bare, msg["body"]))

    async def login(self):
        host, port = C2S[self.node - 1].rsplit(":", 1)
        self.c.connect((host, int(port)), force_starttls=True)
        try:
            await asyncio.wait_for(self.started.wait(), TIMEOUT)
        except asyncio.TimeoutError:
            fail(self.name, "no session on node", self.node)

    def send(self, to, body, full=True):
        # Full JIDs between users whose nodes live; the bare JID to the
        # user whose node dies, so that offline storage can take over.
        self.c.send_message(mto=to.full if full else to.bare, mbody=body, mtype="chat")

    def bodies(self, frm=None):
        return {b for f, b in self.got if frm is None or f == frm.bare}


def metric(admin, sample):
    try:
        with urllib.request.urlopen("http://%s/metrics" % admin, timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(sample + " "):
                    return float(line.split()[-1])
    except OSError:
        return None
    return None


def available(admin):
    try:
        with urllib.request.urlopen("http://%s/api/sessions" % admin, timeout=2) as r:
            return {s["jid"] for s in json.load(r) if s.get("available")}
    except OSError:
        return set()


async def wait_for(what, cond, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            fail("timeout waiting for", what)
        await asyncio.sleep(0.05)


async def main():
    alice, bob, carol = User("alice", 1), User("bob", 2), User("carol", 3)
    users = (alice, bob, carol)
    for u in users:
        await u.login()
    print("OK logged in: alice on node 1, bob on node 2, carol on node 3", flush=True)
    # Every node's directory has the three sessions, available, before
    # the first message (a record reaches the others a few ms after the
    # bind; a bare JID with no available resource means offline storage).
    for i, a in enumerate(ADMIN):
        await wait_for("3 available sessions in node %d's directory" % (i + 1), lambda: available(a) == {u.full for u in users})

    # Phase 1: N messages from each user to each other user.
    for u in users:
        for v in users:
            if u is not v:
                for i in range(N):
                    u.send(v, "p1 %s->%s #%d" % (u.name, v.name, i))
    want = {(u.name, v.name): {"p1 %s->%s #%d" % (u.name, v.name, i) for i in range(N)} for u in users for v in users if u is not v}
    await wait_for("phase 1 messages", lambda: all(want[(u.name, v.name)] <= v.bodies(u) for (u, v) in
                                                   [(u, v) for u in users for v in users if u is not v]))
    print("OK phase 1: %d messages across the 3 nodes, all delivered" % (6 * N), flush=True)

    # dave is on node 3 too and, like a mobile client, logs in again on
    # another node as soon as his connection drops: how long a user of a
    # dead node is without a session.
    dave = User("dave", 3)
    await dave.login()
    back = {}

    async def dave_returns():
        await dave.gone.wait()
        dave2 = User("dave", 2)
        await dave2.login()
        back["after"] = time.monotonic() - back["killed"]
        back["user"] = dave2

    # Phase 2: traffic while node 3 dies.
    sent = {("alice", "bob"): [], ("bob", "alice"): [], ("alice", "carol"): [], ("bob", "carol"): []}
    sent_at = {}  # body -> monotonic time sent
    killed_at = noticed_at = None
    noticed = {}
    seq = 0
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        if killed_at is None and now - t0 > 1.0:
            os.kill(PID3, signal.SIGKILL)
            killed_at = time.monotonic()
            back["killed"] = killed_at
            returning = asyncio.ensure_future(dave_returns())
            print("OK node 3 killed (SIGKILL) with carol's session on it", flush=True)
        if killed_at is not None and noticed_at is None:
            for i in (1, 2):
                if i not in noticed and (metric(ADMIN[i - 1], 'xmppd_cluster_dead_nodes_total{node="n%d"}' % i) or 0) >= 1:
                    noticed[i] = time.monotonic() - killed_at
            if len(noticed) == 2:
                noticed_at = time.monotonic()
                print("OK node 3's death noticed by node 1 after %.1fs, by node 2 after %.1fs" % (noticed[1], noticed[2]), flush=True)
            elif now - killed_at > 15:
                fail("node 3's death not noticed within 15s:", noticed)
        if noticed_at is not None and now - noticed_at > 2.0:
            break
        for (frm, to) in sent:
            u, v = {"alice": alice, "bob": bob}[frm], {"alice": alice, "bob": bob, "carol": carol}[to]
            body = "p2 %s->%s #%d" % (frm, to, seq)
            u.send(v, body, full=(to != "carol"))
            sent[(frm, to)].append(body)
            sent_at[body] = time.monotonic()
        seq += 1
        await asyncio.sleep(1.0 / RATE)

    await asyncio.wait_for(returning, TIMEOUT)
    print("OK dave (node 3) had a session on node 2 again %.2fs after the kill, before the death was noticed" % back["after"]
          if back["after"] < noticed_at - killed_at else
          "OK dave (node 3) had a session on node 2 again %.2fs after the kill" % back["after"], flush=True)
    alice.send(back["user"], "to dave on node 2")
    await wait_for("alice's message to dave on node 2", lambda: "to dave on node 2" in back["user"].bodies(alice))

    # Every message between the survivors arrives.
    await wait_for("alice<->bob messages", lambda: set(sent[("alice", "bob")]) <= bob.bodies(alice) and
                   set(sent[("bob", "alice")]) <= alice.bodies(bob))
    print("OK phase 2: %d messages between alice (node 1) and bob (node 2) while node 3 died, all delivered" %
          (len(sent[("alice", "bob")]) + len(sent[("bob", "alice")])), flush=True)

    # Carol: what reached her on node 3, then offline storage on node 1.
    live = carol.bodies()
    await wait_for("carol's client to see node 3 gone", carol.gone.is_set, timeout=5)
    carol2 = User("carol", 1, resource="again")
    await carol2.login()
    await asyncio.sleep(3)  # offline messages follow the initial presence
    offline = carol2.bodies()
    to_carol = sent[("alice", "carol")] + sent[("bob", "carol")]
    before_kill = [b for b in to_carol if sent_at[b] < killed_at]
    window = [b for b in to_carol if killed_at <= sent_at[b] < noticed_at]
    after = [b for b in to_carol if sent_at[b] >= noticed_at]
    lost_after = [b for b in after if b not in offline]
    print("OK carol logged in again on node 1 and got %d offline messages" % len(offline), flush=True)

    def tally(name, bodies):
        lv = sum(1 for b in bodies if b in live)
        off = sum(1 for b in bodies if b in offline)
        lost = [b for b in bodies if b not in live and b not in offline]
        print("REPORT to carol, sent %-32s %3d: %3d live on node 3, %3d offline, %3d lost" % (name, len(bodies), lv, off, len(lost)), flush=True)
        return lost

    lost = tally("before the kill:", before_kill)
    # The senders' nodes keep a copy of each message until node 3 says it
    # reached carol's client, and route the copies again when it dies
    # (cluster/ack.go): none may be lost, also in the window before the
    # death is noticed.
    lost += tally("between kill and noticed death:", window)
    lost += tally("after the death was noticed:", after)
    if lost:
        fail("%d messages to carol were acknowledged to their senders and lost: %s" % (len(lost), lost[:5]))
    if lost_after:
        fail("%d messages to carol sent after the survivors noticed node 3's death are lost: %s" % (len(lost_after), lost_after[:5]))
    print("OK every message to carol sent after the death was noticed is in her offline storage", flush=True)
    for u in (alice, bob, carol2, back["user"]):
        u.c.disconnect()
    print("PASS", flush=True)


if __name__ == "__main__":
    if "-v" in sys.argv:
        logging.basicConfig(level=logging.DEBUG)
    asyncio.get_event_loop().run_until_complete(main())
