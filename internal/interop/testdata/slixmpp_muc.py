#!/usr/bin/python3
"""Drives two real slixmpp clients through a XEP-0045 room on xmppd.

usage: slixmpp_muc.py HOST PORT JID1 PW1 JID2 PW2 ROOM

The first creates ROOM (an instant room: the empty configuration form
submitted through xep_0045), sets the subject; the second joins
(join_muc_wait: occupants, self-presence, history, subject), both see each
other's presence, exchange groupchat messages, the second reads the room's
archive through xep_0313 (MAM on the room JID). Prints one line per step
and exits 0 only if all of them happened.
"""
import asyncio
import sys

import slixmpp

from scenario import run
from slixmpp_util import client

HOST, PORT, JID1, PW1, JID2, PW2, ROOM = sys.argv[1:8]
PORT = int(PORT)
TIMEOUT = 20


def make(jid, pw):
    return client(jid, pw, ("xep_0030", "xep_0045", "xep_0004", "xep_0059", "xep_0313", "xep_0199"))


def fail(*what):
    print("FAIL", *what)
    sys.exit(1)


async def main():
    a, b = make(JID1, PW1), make(JID2, PW2)
    loop = asyncio.get_event_loop()
    started = {"a": asyncio.Event(), "b": asyncio.Event()}
    a.add_event_handler("session_start", lambda _: (a.send_presence(), started["a"].set()))
    b.add_event_handler("session_start", lambda _: (b.send_presence(), started["b"].set()))
    for c in (a, b):
        c.connect((HOST, PORT), force_starttls=True)

    async def wait(what, aw):
        try:
            return await asyncio.wait_for(aw, TIMEOUT)
        except asyncio.TimeoutError:
            fail("timeout waiting for", what)

    await wait("session a", started["a"].wait())
    await wait("session b", started["b"].wait())
    print("OK logged in", a.boundjid.full, b.boundjid.full)

    info = await a.plugin["xep_0030"].get_info(jid="conference.localhost", timeout=TIMEOUT)
    if "http://jabber.org/protocol/muc" not in info["disco_info"]["features"]:
        fail("service disco#info", info)
    print("OK service speaks muc")

    room = slixmpp.JID(ROOM)
    a_muc, b_muc = a.plugin["xep_0045"], b.plugin["xep_0045"]

    # The creator: self-presence with 201, then the instant room.
    created = loop.create_future()
    a.add_event_handler("muc::%s::self-presence" % room,
                        lambda p: created.done() or created.set_result(p))
    a_muc.join_muc(room, "Alice")
    pres = await wait("a self-presence", created)
    codes = {s for s in pres["muc"]["status_codes"]}
    if 201 not in codes or 110 not in codes:
        fail("creation self-presence codes", codes, pres)
    print("OK room created with status", sorted(codes))
    form = a.plugin["xep_0004"].make_form(ftype="submit")
    await a_muc.set_room_config(room, form, timeout=TIMEOUT)
    print("OK instant room configured")

    a_subject = loop.create_future()
    a.add_event_handler("muc::%s::groupchat_subject" % room,
                        lambda m: m["subject"] and not a_subject.done() and a_subject.set_result(m))
    a_muc.set_subject(room, "Interop testing")
    await wait("subject echo", a_subject)
    print("OK subject set")

    # Wait for the echo: only then is the message in the room's history
    # (bob's join travels on another connection).
    echoed = loop.create_future()
    a.add_event_handler("muc::%s::message" % room,
                        lambda m: m["body"] == "before bob" and not echoed.done() and echoed.set_result(m))
    a.send_message(mto=room, mbody="before bob", mtype="groupchat")
    await wait("echo of the first message", echoed)

    a_sees_bob = loop.create_future()
    a.add_event_handler("muc::%s::got_online" % room,
                        lambda p: p["muc"]["nick"] == "Bob" and not a_sees_bob.done() and a_sees_bob.set_result(p))
    b_got = loop.create_future()
    a_got = loop.create_future()
    b.add_event_handler("muc::%s::message" % room,
                        lambda m: m["body"] == "hello bob" and not b_got.done() and b_got.set_result(m))
    a.add_event_handler("muc::%s::message" % room,
                        lambda m: m["body"] == "hello alice" and not a_got.done() and a_got.set_result(m))

    pres, subject, occupants, history = await wait("b joins", b_muc.join_muc_wait(room, "Bob", maxstanzas=10, timeout=TIMEOUT))
    if pres["muc"]["nick"] != "Bob" or 110 not in pres["muc"]["status_codes"]:
        fail("bob self-presence", pres)
    if subject["subject"] != "Interop testing" or subject["from"].resource != "Alice":
        fail("subject on join", subject)
    nicks = sorted(p["muc"]["nick"] for p in occupants)
    if "Alice" not in nicks:
        fail("occupants on join", nicks)
    if not any(m["body"] == "before bob" for m in history):
        fail("history on join", [m["body"] for m in history])
    print("OK bob joined, sees subject", subject["subject"], "occupants", nicks, "history", len(history))
    p = await wait("alice sees bob", a_sees_bob)
    print("OK alice sees", p["from"].full, p["muc"]["role"])
    if sorted(a_muc.get_roster(room)) != ["Alice", "Bob"]:
        fail("alice's room roster", a_muc.get_roster(room))

    a.send_message(mto=room, mbody="hello bob", mtype="groupchat")
    m = await wait("bob gets alice's message", b_got)
    if m["from"].full != str(room) + "/Alice":
        fail("from", m["from"])
    print("OK bob received groupchat from", m["from"].full)
    b.send_message(mto=room, mbody="hello alice", mtype="groupchat")
    m = await wait("alice gets bob's message", a_got)
    print("OK alice received groupchat from", m["from"].full)

    # XEP-0313 on the room JID.
    iq = await b.plugin["xep_0313"].retrieve(jid=room, rsm={"max": 10}, timeout=TIMEOUT)
    bodies = [r["mam_result"]["forwarded"]["stanza"]["body"] for r in iq["mam"]["results"]]
    if bodies != ["before bob", "hello bob", "hello alice"]:
        fail("room archive", bodies)
    print("OK room archive", bodies)

    b_muc.leave_muc(room, "Bob")
    a_left = loop.create_future()
    a.add_event_handler("muc::%s::got_offline" % room,
                        lambda p: not a_left.done() and a_left.set_result(p))
    p = await wait("bob leaves", a_left)
    print("OK alice sees", p["muc"]["nick"], "leave")
    for c in (a, b):
        c.disconnect()


if __name__ == "__main__":
    run(main)
