#!/usr/bin/python3
"""IM scenario with real aioxmpp clients (three sessions) against xmppd.

usage: aioxmpp_im.py HOST PORT MODE CERTFILE ALICE PWA BOB PWB
ALICE and BOB are bare JIDs; MODE is "starttls" or "direct"; CERTFILE is
the server's certificate for "localhost", pinned (see aioxmpp_util.py).

  a. alice subscribes to bob, bob approves and subscribes back, alice
     approves (RFC 6121 §3.1); both rosters, fetched afresh with a roster
     get, show subscription "both" (RFC 6121 §2.1.2.5);
  b. each sees the other's available presence from the right full JID
     (RFC 6121 §3.1.5: the contact's server sends the contact's presence on
     approval);
  c. chat messages both ways between full JIDs;
  d. bob goes offline (alice sees unavailable presence), alice sends to
     bob's bare JID, bob logs in again and gets it with a XEP-0203 delay;
  e. bob on two resources with carbons enabled (XEP-0280 §4): alice sends
     to bob's first full JID, the second gets a <received/> carbon (§7);
     bob's first sends to alice, the second gets a <sent/> carbon (§8).

Prints "OK <step>" per step, then PASS; "FAIL <why>" and exit 1 otherwise.
"""
import asyncio
import sys
from datetime import datetime, timezone

import aioxmpp
import aioxmpp.roster.xso as roster_xso

from aioxmpp_util import Session, body
from scenario import Fail, run, step

HOST, PORT, MODE, CERT, ALICE, PWA, BOB, PWB = sys.argv[1:9]
PORT = int(PORT)
TOTAL_TIMEOUT = 25


def session(jid, pw):
    return Session(HOST, PORT, MODE, CERT, jid, pw)


async def fetch_roster(s):
    """A fresh roster get (not the library's cached copy): what the server
    stored."""
    iq = aioxmpp.IQ(type_=aioxmpp.IQType.GET, payload=roster_xso.Query())
    res = await step("roster get at " + str(s.full), s.client.send(iq))
    return {str(item.jid): item.subscription for item in res.items}


async def wait_subscription(s, peer, want):
    async def loop():
        while True:
            item = s.roster.items.get(peer)
            if item is not None and item.subscription == want:
                return
            await asyncio.sleep(0.05)
    await step("roster push %s=%s at %s" % (peer, want, s.full), loop())


async def scenario():
    alice_bare, bob_bare = aioxmpp.JID.fromstr(ALICE), aioxmpp.JID.fromstr(BOB)
    alice = session(ALICE + "/a1", PWA)
    bob = session(BOB + "/b1", PWB)
    sessions = [alice, bob]
    try:
        await alice.start()
        await bob.start()
        print("OK login", alice.full, bob.full, "with", alice.sasl.mechanism, "and", bob.sasl.mechanism, flush=True)

        # a. subscriptions both ways (RFC 6121 §3.1.1-§3.1.6).
        alice.roster.subscribe(bob_bare)
        await bob.expect(bob.subscribe_requests, "subscribe from alice",
                         lambda st: st.from_.bare() == alice_bare)
        bob.roster.approve(alice_bare)
        # RFC 6121 §3.1.5, §3.1.6: one way first, pushed to both.
        await wait_subscription(alice, bob_bare, "to")
        await wait_subscription(bob, alice_bare, "from")
        print("OK subscribed one way: alice to, bob from", flush=True)
        bob.roster.subscribe(alice_bare)
        await alice.expect(alice.subscribe_requests, "subscribe from bob",
                           lambda st: st.from_.bare() == bob_bare)
        alice.roster.approve(bob_bare)
        await wait_subscription(alice, bob_bare, "both")
        await wait_subscription(bob, alice_bare, "both")
        print("OK subscribed both ways", flush=True)
        for s, peer in ((alice, bob_bare), (bob, alice_bare)):
            items = await fetch_roster(s)
            if items.get(str(peer)) != "both":
                raise Fail("roster of %s: %r, want %s both" % (s.full, items, peer))
            print("OK roster", s.full.bare(), "has", peer, "both", flush=True)

        # b. presence, each from the other's full JID.
        await alice.expect(alice.available, "presence of bob", lambda j: j == bob.full)
        print("OK alice sees", bob.full, "online", flush=True)
        await bob.expect(bob.available, "presence of alice", lambda j: j == alice.full)
        print("OK bob sees", alice.full, "online", flush=True)

        # c. messages both ways.
        await alice.send_chat(bob.full, "hello bob")
        m = await bob.expect(bob.messages, "message from alice", lambda m: body(m) == "hello bob")
        if m.from_ != alice.full or m.type_ != aioxmpp.MessageType.CHAT:
            raise Fail("bob got %s type %s" % (m.from_, m.type_))
        print("OK message alice->bob from", m.from_, flush=True)
        await bob.send_chat(alice.full, "hello alice")
        m = await alice.expect(alice.messages, "message from bob", lambda m: body(m) == "hello alice")
        if m.from_ != bob.full:
            raise Fail("alice got reply from %s" % m.from_)
        print("OK message bob->alice from", m.from_, flush=True)

        # d. offline delivery (RFC 6121 §8.5.2.2.1, XEP-0160, XEP-0203).
        old_bob = bob.full
        await bob.stop()
        sessions.remove(bob)
        await alice.expect(alice.unavailable, "unavailable from bob", lambda j: j == old_bob)
        print("OK alice sees", old_bob, "offline", flush=True)
        # What alice saw before bob left must not count as his return.
        while not alice.available.empty():
            alice.available.get_nowait()
        await alice.send_chat(bob_bare, "while you were away")
        bob = session(BOB + "/b1", PWB)
        sessions.append(bob)
        await bob.start()
        # RFC 6121 §4.2.2, §4.3: bob's initial presence goes to alice and
        # makes the server probe alice's presence for him.
        await alice.expect(alice.available, "presence of bob again", lambda j: j == bob.full)
        print("OK alice sees", bob.full, "back online", flush=True)
        await bob.expect(bob.available, "probed presence of alice", lambda j: j == alice.full)
        print("OK bob after login sees", alice.full, "online", flush=True)
        m = await bob.expect(bob.messages, "offline message", lambda m: body(m) == "while you were away")
        if not m.xep0203_delay:
            raise Fail("offline message without XEP-0203 delay")
        d = m.xep0203_delay[0]
        if m.from_ != alice.full:
            raise Fail("offline message from %s, want %s" % (m.from_, alice.full))
        # XEP-0203 §3: stamped by the server that stored it, when it did.
        age = (datetime.now(timezone.utc) - d.stamp.replace(tzinfo=timezone.utc)).total_seconds()
        if str(d.from_) != "localhost" or not -1 < age < 60:
            raise Fail("delay from %s stamp %s (%.1fs ago)" % (d.from_, d.stamp.isoformat(), age))
        print("OK offline message delivered with delay stamp", d.stamp.isoformat(), "from", d.from_, flush=True)

        # e. carbons (XEP-0280).
        bob2 = session(BOB + "/b2", PWB)
        sessions.append(bob2)
        await bob2.start()
        for s in (bob, bob2):
            await step("carbons enable at " + str(s.full), s.carbons.enable())
        print("OK carbons enabled on", bob.full, bob2.full, flush=True)

        await alice.send_chat(bob.full, "carbon in")
        await bob.expect(bob.messages, "direct message", lambda m: body(m) == "carbon in")

        def received(m):
            r = m.xep0280_received
            return r is not None and r.stanza is not None and body(r.stanza) == "carbon in"
        m = await bob2.expect(bob2.messages, "received carbon", received)
        inner = m.xep0280_received.stanza
        # XEP-0280 §11: a carbon is trusted only from the account's bare JID.
        if m.from_ != bob_bare or m.to != bob2.full or inner.from_ != alice.full or inner.to != bob.full:
            raise Fail("received carbon from %s wrapping %s->%s" % (m.from_, inner.from_, inner.to))
        print("OK received carbon at", bob2.full, "of", inner.from_, "->", inner.to, flush=True)

        await bob.send_chat(alice.full, "carbon out")
        await alice.expect(alice.messages, "message from bob's first resource", lambda m: body(m) == "carbon out")

        def sent(m):
            s = m.xep0280_sent
            return s is not None and s.stanza is not None and body(s.stanza) == "carbon out"
        m = await bob2.expect(bob2.messages, "sent carbon", sent)
        inner = m.xep0280_sent.stanza
        if m.from_ != bob_bare or m.to != bob2.full or inner.to != alice.full or inner.from_ != bob.full:
            raise Fail("sent carbon from %s wrapping %s->%s" % (m.from_, inner.from_, inner.to))
        print("OK sent carbon at", bob2.full, "of", inner.from_, "->", inner.to, flush=True)

        # The offline message was deleted once delivered (XEP-0160 §3):
        # bob's second session, which logged in later, never got it.
        while not bob2.messages.empty():
            m = bob2.messages.get_nowait()
            if body(m) == "while you were away":
                raise Fail("offline message delivered again to " + str(bob2.full))
        print("OK offline message delivered once", flush=True)
    finally:
        for s in sessions:
            await s.stop()


if __name__ == "__main__":
    run(scenario, TOTAL_TIMEOUT)
