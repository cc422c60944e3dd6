"""Helpers shared by the slixmpp scenario scripts (slixmpp 1.8, Debian's
python3-slixmpp).

TLS: the test server's certificate is self-signed; the scripts' XMPP
streams do not verify it (slixmpp_upload.py verifies its HTTPS side).
"""
import asyncio
import ssl

import slixmpp


def client(jid, pw, plugins, direct=False):
    """A client for jid with plugins registered; direct: direct TLS
    (XEP-0368) instead of STARTTLS."""
    c = slixmpp.ClientXMPP(jid, pw)
    for p in plugins:
        c.register_plugin(p)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    if direct:
        c.enable_direct_tls = True
    return c


async def login(c, host, port, timeout):
    """Connects c to host:port and waits (at most timeout seconds) for its
    session, in which it sends its initial presence; prints "OK login"."""
    started = asyncio.Event()

    async def start(_):
        c.send_presence()
        started.set()

    c.add_event_handler("session_start", start)
    c.connect((host, port))
    await asyncio.wait_for(started.wait(), timeout)
    print("OK login", c.boundjid, flush=True)
