#!/usr/bin/python3
"""Drives two real aioxmpp clients against xmppd: login and chat.

usage: aioxmpp_chat.py HOST PORT MODE CERTFILE JID1 PW1 JID2 PW2
MODE is "starttls" or "direct" (XEP-0368 TLS from the first byte);
CERTFILE is the certificate pinned for "localhost" (see aioxmpp_util.py).

Both log in (TLS, SASL as aioxmpp negotiates it, bind, initial presence,
roster), the first pings the server (XEP-0199), asks its disco#info
(XEP-0030), sends a chat message to the second's full JID; the second
answers; each checks what it received. Prints one line per step and exits 0
only if all of them happened.
"""
import sys

import aioxmpp
import aioxmpp.disco
import aioxmpp.ping

from aioxmpp_util import Session, body
from scenario import Fail, run, step

HOST, PORT, MODE, CERT, JID1, PW1, JID2, PW2 = sys.argv[1:9]
PORT = int(PORT)
TOTAL_TIMEOUT = 20


async def scenario():
    a = Session(HOST, PORT, MODE, CERT, JID1, PW1)
    b = Session(HOST, PORT, MODE, CERT, JID2, PW2)
    try:
        await a.start()
        await b.start()
        print("OK logged in", a.full, b.full, "with", a.sasl.mechanism, "and", b.sasl.mechanism, flush=True)

        server = a.full.replace(localpart=None, resource=None)
        await step("ping", aioxmpp.ping.ping(a.client, server))
        print("OK ping server", flush=True)

        disco = a.client.summon(aioxmpp.DiscoClient)
        info = await step("disco#info", disco.query_info(server))
        if "urn:xmpp:ping" not in info.features:
            raise Fail("disco#info lacks urn:xmpp:ping: %s" % sorted(info.features))
        print("OK disco#info", len(info.features), "features", flush=True)

        await a.send_chat(b.full, "hello from aioxmpp")
        m = await b.expect(b.messages, "message at b", lambda m: body(m) is not None)
        if body(m) != "hello from aioxmpp" or m.from_ != a.full:
            raise Fail("b got %r from %s" % (body(m), m.from_))
        print("OK b received from", m.from_, flush=True)
        await b.send_chat(m.from_, "pong: " + body(m))
        r = await a.expect(a.messages, "reply at a", lambda m: body(m) is not None)
        if body(r) != "pong: hello from aioxmpp" or r.from_ != b.full:
            raise Fail("a got %r from %s" % (body(r), r.from_))
        print("OK a received reply", flush=True)
    finally:
        for s in (a, b):
            await s.stop()


if __name__ == "__main__":
    run(scenario, TOTAL_TIMEOUT)
