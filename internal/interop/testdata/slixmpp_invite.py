#!/usr/bin/python3
"""XEP-0401 invitations with slixmpp: the inviter makes an invite through
the urn:xmpp:invite#invite ad-hoc command (slixmpp's xep_0050); a new
client, on a host where registration is off, sees the urn:xmpp:invite
stream feature, presents the token (XEP-0379 <preauth/> IQ), registers
in-band with slixmpp's xep_0077 Register stanza and logs in; both rosters
then hold the other with subscription both.

usage: slixmpp_invite.py HOST PORT INVITER_JID PW NEW_JID NEW_PW

Prints one OK line per step, PASS at the end; the landing URL on a line
"OK landing URL".

slixmpp 1.8.3 holds back every IQ before the session starts (only bind
and session pass), which blocks its own xep_0077 registration as well:
the feature handler lets its two IQs through with the stream's
_always_send_everything switch, and turns it off again.
"""
import asyncio
import re
import sys
from xml.etree import ElementTree as ET

import slixmpp
from slixmpp.stanza import StreamFeatures
from slixmpp.xmlstream import ElementBase, register_stanza_plugin

import slixmpp_util
from scenario import run

HOST, PORT, JID, PW, NEWJID, NEWPW = sys.argv[1:7]
PORT = int(PORT)
STEP = 15


class InviteFeature(ElementBase):
    """<register xmlns='urn:xmpp:invite'/> among the stream features."""
    name = "register"
    namespace = "urn:xmpp:invite"
    plugin_attrib = "invite_register"
    interfaces = set()


def client(jid, pw):
    return slixmpp_util.client(jid, pw, ("xep_0030", "xep_0004", "xep_0050", "xep_0077"))


async def login(c):
    started = asyncio.Event()

    async def start(_):
        await c.get_roster()
        c.send_presence()
        started.set()

    c.add_event_handler("session_start", start)
    c.connect((HOST, PORT))
    await asyncio.wait_for(started.wait(), STEP)


async def main():
    alice = client(JID, PW)
    await login(alice)
    print("OK login", alice.boundjid, flush=True)

    iq = await alice["xep_0050"].send_command(alice.boundjid.domain, "urn:xmpp:invite#invite", timeout=STEP)
    if iq["command"]["status"] != "completed":
        raise SystemExit("FAIL invite command: %s" % iq)
    values = iq["command"]["form"]["values"]
    uri, landing = values.get("uri", ""), values.get("landing-url", "")
    m = re.search(r"preauth=([0-9a-f]+)", uri)
    if not uri.startswith("xmpp:%s?roster;" % alice.boundjid.bare) or not m:
        raise SystemExit("FAIL invite uri: %r" % uri)
    token = m.group(1)
    print("OK invite uri", flush=True)
    if landing:
        print("OK landing", landing, flush=True)

    new = client(NEWJID, NEWPW)
    register_stanza_plugin(StreamFeatures, InviteFeature)
    registered = asyncio.Event()

    async def invite_feature(features):
        print("OK feature urn:xmpp:invite", flush=True)
        new._always_send_everything = True
        try:
            return await register(features)
        finally:
            new._always_send_everything = False

    async def register(features):
        pre = new.Iq()
        pre["type"] = "set"
        pre["to"] = new.boundjid.domain
        pre.append(ET.Element("{urn:xmpp:pars:0}preauth", {"token": token}))
        await pre.send(timeout=STEP)
        print("OK preauth accepted", flush=True)
        reg = new.Iq()
        reg["type"] = "set"
        reg["register"]["username"] = new.boundjid.user
        reg["register"]["password"] = NEWPW
        await reg.send(timeout=STEP)
        print("OK registered", new.boundjid.bare, flush=True)
        registered.set()
        return False  # on to SASL with the new account

    new.register_feature("invite_register", invite_feature, restart=False, order=40)
    await login(new)
    if not registered.is_set():
        raise SystemExit("FAIL logged in without registering: no urn:xmpp:invite feature?")
    print("OK login", new.boundjid, flush=True)

    sub = new.client_roster[alice.boundjid.bare]["subscription"]
    print("OK new roster", alice.boundjid.bare, sub, flush=True)
    for _ in range(50):
        if alice.client_roster[new.boundjid.bare]["subscription"] == "both":
            break
        await asyncio.sleep(0.1)
    print("OK inviter roster", new.boundjid.bare, alice.client_roster[new.boundjid.bare]["subscription"], flush=True)

    # Used once: a third client cannot register with the same token.
    again = client("mallory@" + new.boundjid.domain, NEWPW)
    refused = asyncio.get_event_loop().create_future()

    async def reuse(features):
        again._always_send_everything = True
        pre = again.Iq()
        pre["type"] = "set"
        pre["to"] = again.boundjid.domain
        pre.append(ET.Element("{urn:xmpp:pars:0}preauth", {"token": token}))
        try:
            await pre.send(timeout=STEP)
            refused.set_result("accepted")
        except slixmpp.exceptions.IqError as e:
            refused.set_result(e.iq["error"]["condition"])
        again.disconnect()
        return True

    again.register_feature("invite_register", reuse, restart=True, order=40)
    again.connect((HOST, PORT))
    print("OK reuse", await asyncio.wait_for(refused, STEP), flush=True)

    new.disconnect()
    alice.disconnect()


if __name__ == "__main__":
    run(main)
