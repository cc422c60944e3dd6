"""Helpers shared by the aioxmpp scenario scripts (aioxmpp 0.13, Debian's
python3-aioxmpp).

TLS: aioxmpp verifies certificates with pyOpenSSL (PKIX plus a hostname
check against the JID's domain). Our test server's certificate is
self-signed, so instead of switching verification off (no_verify=True) the
scripts pin the exact certificate the Go test hands them (the file xmppd
wrote under its data directory): aioxmpp's PinningPKIXCertificateVerifier
accepts a leaf that fails PKIX only if it is pinned for the domain, so a
server presenting any other certificate (or none for that SNI name) is
refused.

SASL: aioxmpp's PasswordSASLProvider tries aiosasl.SCRAM (non-PLUS only, the
best of SCRAM-SHA-256 and SCRAM-SHA-1 that the server offers, GS2 header
"n,,") and, over TLS, PLAIN as a fallback. It never uses SCRAM-*-PLUS, so
against xmppd it authenticates with SCRAM-SHA-256. RecordingSASLProvider
below records the mechanism name so the scripts can print it.
"""
import asyncio
import base64
import ssl
from datetime import timedelta

import aiosasl
import aioxmpp
import aioxmpp.carbons
import aioxmpp.connector
import aioxmpp.dispatcher
import aioxmpp.misc  # registers Message.xep0203_delay
import aioxmpp.security_layer as sl

from scenario import STEP_TIMEOUT, Fail, step



async def _no_discovery(domain, **kwargs):
    return []


# With override_peer, aioxmpp still falls back to SRV lookups and
# domain:5222 when the given peer fails; a test must never talk to whatever
# else listens there, so discovery is switched off.
aioxmpp.node.discover_connectors = _no_discovery

class RecordingSASLProvider(sl.PasswordSASLProvider):
    """PasswordSASLProvider that remembers the mechanism it used."""

    mechanism = None
    failure = None  # the server's first SASL failure

    async def _execute(self, intf, mechanism, token):
        # token is (name, hashinfo) for SCRAM and "PLAIN" for PLAIN.
        self.mechanism = token[0] if isinstance(token, tuple) else str(token)
        try:
            return await super()._execute(intf, mechanism, token)
        except aiosasl.SASLError as e:
            # aioxmpp asks the password provider again after a failure; ours
            # has no second password, so the error it finally raises is
            # "aborted by user" and the server's condition would be lost.
            if self.failure is None:
                self.failure = e
            raise


def pinned_security_layer(password, cert_file):
    """A security layer that accepts only the certificate in cert_file for
    the domain "localhost" and authenticates with password."""
    with open(cert_file) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    layer = sl.make(
        password,
        pin_store={"localhost": [base64.b64encode(der).decode("ascii")]},
        pin_type=sl.PinType.CERTIFICATE,
    )
    provider = RecordingSASLProvider(layer.sasl_providers[0]._password_provider)
    return layer._replace(sasl_providers=(provider,)), provider


def connector(mode):
    if mode == "direct":
        # XEP-0368: TLS from the first byte, ALPN "xmpp-client".
        return aioxmpp.connector.XMPPOverTLSConnector()
    return aioxmpp.connector.STARTTLSConnector()


class Session:
    """One aioxmpp client: roster, presence, carbons and every message it
    receives in a queue."""

    def __init__(self, host, port, mode, cert_file, jid, password):
        self.jid = aioxmpp.JID.fromstr(jid)
        layer, self.sasl = pinned_security_layer(password, cert_file)
        self.client = aioxmpp.Client(
            self.jid, layer,
            override_peer=[(host, port, connector(mode))],
            # A refused login fails at once instead of being retried.
            max_initial_attempts=1,
            negotiation_timeout=timedelta(seconds=STEP_TIMEOUT),
        )
        self.roster = self.client.summon(aioxmpp.RosterClient)
        self.presence = self.client.summon(aioxmpp.PresenceClient)
        self.presence_server = self.client.summon(aioxmpp.PresenceServer)
        self.carbons = self.client.summon(aioxmpp.CarbonsClient)
        self.messages = asyncio.Queue()
        self.available = asyncio.Queue()    # full JIDs seen coming online
        self.unavailable = asyncio.Queue()  # full JIDs seen going offline
        self.subscribe_requests = asyncio.Queue()
        self.roster_ready = asyncio.Event()

        disp = self.client.summon(aioxmpp.dispatcher.SimpleMessageDispatcher)
        disp.register_callback(None, None, self.messages.put_nowait)
        self.presence.on_available.connect(lambda full, st: self.available.put_nowait(full))
        self.presence.on_unavailable.connect(lambda full, st: self.unavailable.put_nowait(full))
        self.roster.on_subscribe.connect(lambda st: self.subscribe_requests.put_nowait(st))
        self.roster.on_initial_roster_received.connect(self.roster_ready.set)

    @property
    def full(self):
        return self.client.local_jid

    async def start(self, available=True):
        """Connects, binds, sends initial presence (if available) and waits
        for the roster."""
        if available:
            self.presence_server.set_presence(aioxmpp.PresenceState(True))
        fut = asyncio.get_event_loop().create_future()
        self.client.on_stream_established.connect(fut, self.client.on_stream_established.AUTO_FUTURE)
        self.client.on_failure.connect(fut, self.client.on_failure.AUTO_FUTURE)
        self.client.start()
        try:
            await step("login of " + str(self.jid), fut)
        except Fail:
            self.client.stop()
            raise
        except Exception as e:
            self.client.stop()
            why = repr(e)
            if self.sasl.failure is not None:
                why = "SASL %r" % self.sasl.failure
            raise Fail("login of %s failed: %s" % (self.jid, why)) from None
        await step("roster of " + str(self.jid), self.roster_ready.wait())

    async def stop(self):
        if not self.client.running:
            return
        fut = asyncio.get_event_loop().create_future()
        self.client.on_stopped.connect(fut, self.client.on_stopped.AUTO_FUTURE)
        self.client.on_failure.connect(fut, self.client.on_failure.AUTO_FUTURE)
        self.client.stop()
        try:
            await step("stop of " + str(self.full), fut)
        except Exception:
            pass

    async def send_chat(self, to, body):
        msg = aioxmpp.Message(type_=aioxmpp.MessageType.CHAT, to=to)
        msg.body[None] = body
        await step("send to " + str(to), self.client.send(msg))

    async def expect(self, queue, what, pred):
        """Takes items from queue until pred(item) holds; items that do not
        match are dropped (e.g. our own presence reflected back)."""
        async def loop():
            while True:
                item = await queue.get()
                if pred(item):
                    return item
        return await step(what + " at " + str(self.full), loop())


def body(msg):
    return msg.body.any() if msg.body else None
