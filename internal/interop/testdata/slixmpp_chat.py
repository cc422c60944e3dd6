#!/usr/bin/python3
"""Drives two real slixmpp clients against xmppd.

usage: slixmpp_chat.py HOST PORT MODE JID1 PW1 JID2 PW2
MODE is "starttls" or "direct" (XEP-0368 TLS from the first byte).

Both log in (SASL as slixmpp negotiates it), bind, send presence, get their
rosters; the first adds the second to its roster (and sees the push), the first
pings the server, asks its disco#info, sends a chat message to the second's
full JID; the second answers; each checks what it received. Prints one
line per step and exits 0 only if all of them happened.
"""
import asyncio
import sys

from scenario import run
from slixmpp_util import client

HOST, PORT, MODE, JID1, PW1, JID2, PW2 = sys.argv[1:8]
PORT = int(PORT)
TIMEOUT = 20


def make(jid, pw):
    return client(jid, pw, ("xep_0030", "xep_0199"), direct=MODE == "direct")


async def main():
    a, b = make(JID1, PW1), make(JID2, PW2)
    started = {"a": asyncio.Event(), "b": asyncio.Event()}
    got_b = asyncio.get_event_loop().create_future()
    got_a = asyncio.get_event_loop().create_future()
    failed = asyncio.get_event_loop().create_future()

    def on_fail(name):
        def f(*_):
            if not failed.done():
                failed.set_result(name + ": authentication failed")
        return f

    # slixmpp tries each offered mechanism in turn and reports every
    # refusal as failed_auth; only failed_all_auth means it gave up.
    a.add_event_handler("failed_all_auth", on_fail("a"))
    b.add_event_handler("failed_all_auth", on_fail("b"))

    async def a_start(_):
        a.send_presence()
        await a.get_roster()
        started["a"].set()

    async def b_start(_):
        b.send_presence()
        await b.get_roster()
        started["b"].set()

    a.add_event_handler("session_start", a_start)
    b.add_event_handler("session_start", b_start)

    def b_msg(msg):
        if msg["type"] in ("chat", "normal") and not got_b.done():
            got_b.set_result(msg)
            msg.reply("pong: " + msg["body"]).send()

    def a_msg(msg):
        if msg["type"] in ("chat", "normal") and not got_a.done():
            got_a.set_result(msg)

    b.add_event_handler("message", b_msg)
    a.add_event_handler("message", a_msg)

    for c in (a, b):
        if MODE == "direct":
            c.connect((HOST, PORT), use_ssl=True)
        else:
            c.connect((HOST, PORT), force_starttls=True)

    async def wait(what, aw):
        done, _ = await asyncio.wait([asyncio.ensure_future(aw), failed], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        if failed.done():
            print("FAIL", failed.result())
            sys.exit(1)
        if not done:
            print("FAIL timeout waiting for", what)
            sys.exit(1)

    await wait("session a", started["a"].wait())
    await wait("session b", started["b"].wait())
    print("OK logged in", a.boundjid.full, b.boundjid.full,
          "with", a.plugin["feature_mechanisms"].mech.name, "and", b.plugin["feature_mechanisms"].mech.name)

    rtt = await a.plugin["xep_0199"].ping(jid=a.boundjid.domain, timeout=TIMEOUT)
    print("OK ping server", "%.1fms" % (rtt * 1000))

    info = await a.plugin["xep_0030"].get_info(jid=a.boundjid.domain, timeout=TIMEOUT)
    feats = info["disco_info"]["features"]
    if "urn:xmpp:ping" not in feats:
        print("FAIL disco#info lacks urn:xmpp:ping:", feats)
        sys.exit(1)
    print("OK disco#info", len(feats), "features")

    # RFC 6121 §2.3: add the other as a contact; slixmpp applies the push.
    await a.update_roster(b.boundjid.bare, name="Bob", groups=["Friends"], timeout=TIMEOUT)
    for _ in range(100):
        if b.boundjid.bare in a.client_roster:
            break
        await asyncio.sleep(0.05)
    item = a.client_roster[b.boundjid.bare]
    if item["name"] != "Bob" or item["groups"] != ["Friends"] or item["subscription"] != "none":
        print("FAIL roster item", item["name"], item["groups"], item["subscription"])
        sys.exit(1)
    print("OK roster add", b.boundjid.bare)

    a.send_message(mto=b.boundjid.full, mbody="hello from slixmpp", mtype="chat")
    await wait("message at b", got_b)
    m = got_b.result()
    if m["body"] != "hello from slixmpp" or m["from"].full != a.boundjid.full:
        print("FAIL b got", m)
        sys.exit(1)
    print("OK b received from", m["from"].full)
    await wait("reply at a", got_a)
    r = got_a.result()
    if r["body"] != "pong: hello from slixmpp" or r["from"].full != b.boundjid.full:
        print("FAIL a got", r)
        sys.exit(1)
    print("OK a received reply")

    for c in (a, b):
        c.disconnect()


if __name__ == "__main__":
    run(main)
