#!/usr/bin/python3
"""Drives aioxmpp's stream management (XEP-0198) against xmppd.

usage: aioxmpp_sm.py HOST PORT CERTFILE JID1 PW1 JID2 PW2

Both log in; aioxmpp enables stream management with resumption on its own
when the server offers it. The first client's connection is then cut
without a closing tag; while it is away the second sends it a message;
aioxmpp reconnects and resumes the session (same full JID, no state lost)
and the message arrives. Prints one line per step and exits 0 only if all
of them happened.
"""
import asyncio
import socket
import sys

from aioxmpp_util import Session, body
from scenario import Fail, run, step

HOST, PORT, CERT, JID1, PW1, JID2, PW2 = sys.argv[1:8]
PORT = int(PORT)


async def scenario():
    a = Session(HOST, PORT, "starttls", CERT, JID1, PW1)
    b = Session(HOST, PORT, "starttls", CERT, JID2, PW2)
    try:
        await a.start()
        await b.start()
        st = a.client.stream
        if not st.sm_enabled or not st.sm_resumable:
            raise Fail("stream management: enabled=%s resumable=%s" % (st.sm_enabled, st.sm_resumable))
        full, sm_id = a.full, st.sm_id
        print("OK sm enabled resumable", full, flush=True)

        loop = asyncio.get_event_loop()
        suspended, resumed, destroyed = loop.create_future(), loop.create_future(), loop.create_future()
        a.client.on_stream_suspended.connect(lambda reason: suspended.done() or suspended.set_result(reason))
        a.client.on_stream_resumed.connect(lambda: resumed.done() or resumed.set_result(True))
        a.client.on_stream_destroyed.connect(lambda *args: destroyed.done() or destroyed.set_result(args))

        # The connection breaks: no closing tag, the socket just goes
        # (as when a phone changes networks).
        sock = st._xmlstream._transport.get_extra_info("socket")
        sock.shutdown(socket.SHUT_RDWR)
        await step("suspension", suspended)
        print("OK connection lost", flush=True)
        await b.send_chat(full, "sent while away")
        await step("resumption", resumed, timeout=15)
        if destroyed.done():
            raise Fail("the stream was destroyed, not resumed: %r" % (destroyed.result(),))
        if a.full != full or a.client.stream.sm_id != sm_id:
            raise Fail("resumed as %s (sm id %s), was %s (%s)" % (a.full, a.client.stream.sm_id, full, sm_id))
        print("OK resumed as", a.full, flush=True)

        m = await a.expect(a.messages, "message sent while away", lambda m: body(m) is not None)
        if body(m) != "sent while away" or m.from_ != b.full:
            raise Fail("a got %r from %s" % (body(m), m.from_))
        print("OK message delivered after resumption", flush=True)

        await a.send_chat(b.full, "back")
        r = await b.expect(b.messages, "reply at b", lambda m: body(m) is not None)
        if body(r) != "back" or r.from_ != full:
            raise Fail("b got %r from %s" % (body(r), r.from_))
        print("OK b received from the resumed session", flush=True)
    finally:
        for s in (a, b):
            await s.stop()


if __name__ == "__main__":
    run(scenario, 40)
