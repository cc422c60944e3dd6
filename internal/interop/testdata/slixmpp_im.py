#!/usr/bin/python3
"""IM scenario with real slixmpp clients (three sessions) against xmppd.

usage: slixmpp_im.py HOST PORT MODE ALICE PWA BOB PWB
ALICE and BOB are bare JIDs; MODE is "starttls" or "direct". The test
server's certificate is self-signed: verification is off, as in
slixmpp_chat.py (slixmpp 1.8.3 has no pinning API of its own).

The steps and their "OK ..." lines are the same as aioxmpp_im.py's:
  a. alice subscribes to bob, bob approves and subscribes back, alice
     approves (RFC 6121 §3.1); both rosters, fetched afresh with get_roster,
     show subscription "both";
  b. each sees the other's available presence from the right full JID;
  c. chat messages both ways;
  d. bob goes offline, alice sends to his bare JID, bob logs in again and
     gets it with a XEP-0203 delay;
  e. bob on two resources with carbons (XEP-0280): a <received/> carbon at
     the second for alice's message to the first, a <sent/> carbon for the
     first's message to alice.

slixmpp answers subscription requests by itself unless told not to
(auto_authorize, auto_subscribe), and its RosterItem.authorize() also sends
our last presence straight to the contact, which would hide whether the
server sends it (RFC 6121 §3.1.5). So approvals here are plain
<presence type='subscribed'/> stanzas and the presence seen in step b is
the server's doing.
"""
import asyncio
import sys
from datetime import datetime, timezone

from scenario import STEP_TIMEOUT, Fail, run, step
from slixmpp_util import client

HOST, PORT, MODE, ALICE, PWA, BOB, PWB = sys.argv[1:8]
PORT = int(PORT)
TOTAL_TIMEOUT = 25


class Session:
    """One slixmpp client with queues of what it receives."""

    def __init__(self, jid, pw):
        c = self.c = client(jid, pw, ("xep_0030", "xep_0203", "xep_0280", "xep_0297"), direct=MODE == "direct")
        # Subscription requests are answered by the scenario, not slixmpp.
        c.auto_authorize = None
        c.auto_subscribe = False
        self.messages = asyncio.Queue()
        self.received_carbons = asyncio.Queue()
        self.sent_carbons = asyncio.Queue()
        self.available = asyncio.Queue()
        self.unavailable = asyncio.Queue()
        self.subscribe_requests = asyncio.Queue()
        self.ready = asyncio.get_running_loop().create_future()
        c.add_event_handler("message", self.messages.put_nowait)
        # The xep_0280 plugin raises these only for carbons from our own
        # bare JID (XEP-0280 §11).
        c.add_event_handler("carbon_received", self.received_carbons.put_nowait)
        c.add_event_handler("carbon_sent", self.sent_carbons.put_nowait)
        c.add_event_handler("presence_available", lambda p: self.available.put_nowait(p["from"].full))
        c.add_event_handler("presence_unavailable", lambda p: self.unavailable.put_nowait(p["from"].full))
        c.add_event_handler("presence_subscribe", self.subscribe_requests.put_nowait)
        c.add_event_handler("session_start", self._start)
        c.add_event_handler("failed_all_auth", self._fail("authentication failed"))

    def _fail(self, why):
        def f(*_):
            if not self.ready.done():
                self.ready.set_exception(Fail("login of %s: %s" % (self.c.requested_jid, why)))
        return f

    async def _start(self, _):
        try:
            self.c.send_presence()
            await self.c.get_roster(timeout=STEP_TIMEOUT)
        except Exception as e:
            if not self.ready.done():
                self.ready.set_exception(Fail("session start: %r" % e))
            return
        if not self.ready.done():
            self.ready.set_result(None)

    @property
    def full(self):
        return self.c.boundjid.full

    @property
    def bare(self):
        return self.c.boundjid.bare

    async def start(self):
        if MODE == "direct":
            self.c.connect((HOST, PORT), use_ssl=True)
        else:
            self.c.connect((HOST, PORT), force_starttls=True)
        await step("login of " + str(self.c.requested_jid), self.ready)

    async def stop(self):
        try:
            await step("disconnect of " + self.full, self.c.disconnect())
        except Exception:
            pass

    def chat(self, to, text):
        self.c.send_message(mto=to, mbody=text, mtype="chat")

    async def expect(self, queue, what, pred):
        async def loop():
            while True:
                item = await queue.get()
                if pred(item):
                    return item
        return await step(what + " at " + self.full, loop())


async def wait_subscription(s, peer, want):
    async def loop():
        while True:
            if peer in s.c.client_roster and s.c.client_roster[peer]["subscription"] == want:
                return
            await asyncio.sleep(0.05)
    await step("roster push %s=%s at %s" % (peer, want, s.full), loop())


def mech(s):
    return s.c.plugin["feature_mechanisms"].mech.name


async def scenario():
    alice = Session(ALICE + "/a1", PWA)
    bob = Session(BOB + "/b1", PWB)
    sessions = [alice, bob]
    try:
        await alice.start()
        await bob.start()
        print("OK login", alice.full, bob.full, "with", mech(alice), "and", mech(bob), flush=True)

        # a. subscriptions both ways.
        alice.c.client_roster[BOB].subscribe()
        await bob.expect(bob.subscribe_requests, "subscribe from alice", lambda p: p["from"].bare == ALICE)
        bob.c.send_presence(pto=ALICE, ptype="subscribed")
        # RFC 6121 §3.1.5, §3.1.6: one way first, pushed to both.
        await wait_subscription(alice, BOB, "to")
        await wait_subscription(bob, ALICE, "from")
        print("OK subscribed one way: alice to, bob from", flush=True)
        bob.c.client_roster[ALICE].subscribe()
        await alice.expect(alice.subscribe_requests, "subscribe from bob", lambda p: p["from"].bare == BOB)
        alice.c.send_presence(pto=BOB, ptype="subscribed")
        await wait_subscription(alice, BOB, "both")
        await wait_subscription(bob, ALICE, "both")
        print("OK subscribed both ways", flush=True)
        for s, peer in ((alice, BOB), (bob, ALICE)):
            # Not get_roster(): it sends the roster version it has, and
            # the server rightly answers an up-to-date version with an
            # empty result (RFC 6121 §2.6.3). Without ver: the whole roster.
            iq = s.c.Iq()
            iq["type"] = "get"
            iq.enable("roster")
            res = await step("roster get at " + s.full, iq.send(timeout=STEP_TIMEOUT))
            items = {str(j): v["subscription"] for j, v in res["roster"]["items"].items()}
            if items.get(peer) != "both":
                raise Fail("roster of %s: %r, want %s both" % (s.full, items, peer))
            print("OK roster", s.bare, "has", peer, "both", flush=True)

        # b. presence.
        await alice.expect(alice.available, "presence of bob", lambda j: j == bob.full)
        print("OK alice sees", bob.full, "online", flush=True)
        await bob.expect(bob.available, "presence of alice", lambda j: j == alice.full)
        print("OK bob sees", alice.full, "online", flush=True)

        # c. messages both ways.
        alice.chat(bob.full, "hello bob")
        m = await bob.expect(bob.messages, "message from alice", lambda m: m["body"] == "hello bob")
        if m["from"].full != alice.full or m["type"] != "chat":
            raise Fail("bob got %s type %s" % (m["from"], m["type"]))
        print("OK message alice->bob from", m["from"].full, flush=True)
        bob.chat(alice.full, "hello alice")
        m = await alice.expect(alice.messages, "message from bob", lambda m: m["body"] == "hello alice")
        if m["from"].full != bob.full:
            raise Fail("alice got reply from %s" % m["from"])
        print("OK message bob->alice from", m["from"].full, flush=True)

        # d. offline delivery.
        old_bob = bob.full
        await bob.stop()
        sessions.remove(bob)
        await alice.expect(alice.unavailable, "unavailable from bob", lambda j: j == old_bob)
        print("OK alice sees", old_bob, "offline", flush=True)
        # What alice saw before bob left must not count as his return.
        while not alice.available.empty():
            alice.available.get_nowait()
        alice.chat(BOB, "while you were away")
        bob = Session(BOB + "/b1", PWB)
        sessions.append(bob)
        await bob.start()
        # RFC 6121 §4.2.2, §4.3: bob's initial presence goes to alice and
        # makes the server probe alice's presence for him.
        await alice.expect(alice.available, "presence of bob again", lambda j: j == bob.full)
        print("OK alice sees", bob.full, "back online", flush=True)
        await bob.expect(bob.available, "probed presence of alice", lambda j: j == alice.full)
        print("OK bob after login sees", alice.full, "online", flush=True)
        m = await bob.expect(bob.messages, "offline message", lambda m: m["body"] == "while you were away")
        if m.xml.find("{urn:xmpp:delay}delay") is None:
            raise Fail("offline message without XEP-0203 delay")
        if m["from"].full != alice.full:
            raise Fail("offline message from %s, want %s" % (m["from"], alice.full))
        # XEP-0203 §3: stamped by the server that stored it, when it did.
        d = m["delay"]
        age = (datetime.now(timezone.utc) - d["stamp"]).total_seconds()
        if d["from"].full != "localhost" or not -1 < age < 60:
            raise Fail("delay from %s stamp %s (%.1fs ago)" % (d["from"], d["stamp"].isoformat(), age))
        print("OK offline message delivered with delay stamp", m["delay"]["stamp"].isoformat(),
              "from", m["delay"]["from"], flush=True)

        # e. carbons.
        bob2 = Session(BOB + "/b2", PWB)
        sessions.append(bob2)
        await bob2.start()
        for s in (bob, bob2):
            await step("carbons enable at " + s.full, s.c.plugin["xep_0280"].enable(timeout=STEP_TIMEOUT))
        print("OK carbons enabled on", bob.full, bob2.full, flush=True)

        alice.chat(bob.full, "carbon in")
        await bob.expect(bob.messages, "direct message", lambda m: m["body"] == "carbon in")
        m = await bob2.expect(bob2.received_carbons, "received carbon",
                              lambda m: m["carbon_received"]["body"] == "carbon in")
        inner = m["carbon_received"]
        if m["from"].full != BOB or m["to"].full != bob2.full or inner["from"].full != alice.full or inner["to"].full != bob.full:
            raise Fail("received carbon from %s wrapping %s->%s" % (m["from"], inner["from"], inner["to"]))
        print("OK received carbon at", bob2.full, "of", inner["from"].full, "->", inner["to"].full, flush=True)

        bob.chat(alice.full, "carbon out")
        await alice.expect(alice.messages, "message from bob's first resource", lambda m: m["body"] == "carbon out")
        m = await bob2.expect(bob2.sent_carbons, "sent carbon",
                              lambda m: m["carbon_sent"]["body"] == "carbon out")
        inner = m["carbon_sent"]
        if m["from"].full != BOB or m["to"].full != bob2.full or inner["to"].full != alice.full or inner["from"].full != bob.full:
            raise Fail("sent carbon from %s wrapping %s->%s" % (m["from"], inner["from"], inner["to"]))
        print("OK sent carbon at", bob2.full, "of", inner["from"].full, "->", inner["to"].full, flush=True)

        # The offline message was deleted once delivered (XEP-0160 §3):
        # bob's second session, which logged in later, never got it.
        while not bob2.messages.empty():
            if bob2.messages.get_nowait()["body"] == "while you were away":
                raise Fail("offline message delivered again to " + bob2.full)
        print("OK offline message delivered once", flush=True)
    finally:
        for s in sessions:
            await s.stop()


if __name__ == "__main__":
    run(scenario, TOTAL_TIMEOUT)
