#!/usr/bin/python3
"""Drives a real slixmpp component (XEP-0114) and a slixmpp client against xmppd.

usage: slixmpp_component.py HOST C2S_PORT COMPONENT_PORT DOMAIN SECRET JID PW

The component connects with its shared secret and serves DOMAIN: it answers
disco#info with a gateway identity and echoes chat messages. The client logs
in, finds DOMAIN in its server's disco#items, asks the component's
disco#info, sends a message to echo@DOMAIN and checks the echo. Prints one
line per step and exits 0 only if all of them happened.
"""
import asyncio
import logging
import sys

from slixmpp.componentxmpp import ComponentXMPP

import slixmpp_util

HOST, C2S_PORT, COMP_PORT, DOMAIN, SECRET, JID, PW = sys.argv[1:8]
TIMEOUT = 20


async def main():
    loop = asyncio.get_event_loop()
    comp = ComponentXMPP(DOMAIN, SECRET, HOST, int(COMP_PORT))
    comp.register_plugin("xep_0030")
    comp["xep_0030"].add_identity(category="gateway", itype="test", name="Echo gateway", jid=DOMAIN)
    comp_ready = asyncio.Event()
    comp.add_event_handler("session_start", lambda _: comp_ready.set())

    def echo(msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply("echo: " + msg["body"]).send()

    comp.add_event_handler("message", echo)

    client = slixmpp_util.client(JID, PW, ("xep_0030",))
    client_ready = asyncio.Event()

    async def started(_):
        client.send_presence()
        await client.get_roster()
        client_ready.set()

    client.add_event_handler("session_start", started)
    got = loop.create_future()

    def on_msg(msg):
        if msg["type"] in ("chat", "normal") and not got.done():
            got.set_result(msg)

    client.add_event_handler("message", on_msg)

    async def wait(what, aw):
        try:
            return await asyncio.wait_for(aw, TIMEOUT)
        except asyncio.TimeoutError:
            print("FAIL timeout waiting for", what)
            sys.exit(1)

    comp.connect()
    await wait("component handshake", comp_ready.wait())
    print("OK component connected as", comp.boundjid.full)

    client.connect((HOST, int(C2S_PORT)), force_starttls=True)
    await wait("client session", client_ready.wait())
    print("OK client logged in", client.boundjid.full)

    items = await client["xep_0030"].get_items(jid=client.boundjid.domain, timeout=TIMEOUT)
    jids = [i[0] for i in items["disco_items"]["items"]]
    if DOMAIN not in jids:
        print("FAIL server disco#items lacks", DOMAIN, jids)
        sys.exit(1)
    print("OK server lists", DOMAIN)

    info = await client["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
    ids = [(i[0], i[1]) for i in info["disco_info"]["identities"]]
    if ("gateway", "test") not in ids:
        print("FAIL component identities", ids)
        sys.exit(1)
    print("OK component disco#info gateway/test")

    client.send_message(mto="echo@" + DOMAIN, mbody="hello component", mtype="chat")
    m = await wait("echo", got)
    if m["body"] != "echo: hello component" or m["from"].bare != "echo@" + DOMAIN:
        print("FAIL client got", m)
        sys.exit(1)
    print("OK echo from", m["from"].bare)

    client.disconnect()
    comp.disconnect()
    print("PASS")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.get_event_loop().run_until_complete(main())
