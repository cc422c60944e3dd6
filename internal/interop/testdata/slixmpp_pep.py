#!/usr/bin/python3
"""Drives two real slixmpp clients through PEP (XEP-0163) against xmppd.

usage: slixmpp_pep.py HOST PORT ALICE PW BOB PW

alice and bob are subscribed to each other (the Go test sets the rosters).
bob uses slixmpp's XEP-0084 plugin, which announces
urn:xmpp:avatar:metadata+notify in its XEP-0115 caps; the server has to
learn that by asking bob's client (disco#info to the caps node) and
verifying the hash. alice publishes an avatar (data, then metadata) with the
same plugin, twice; bob must get the metadata notifications from alice's
bare JID (the first possibly as the last published item, XEP-0163 §4.3.4,
the second live), then read the items back with XEP-0060 items retrieval,
and fetch the data item by id. Prints one OK line per step, PASS at the end.
"""
import asyncio
import hashlib
import logging
import sys

from slixmpp_util import client

HOST, PORT, ALICE, APW, BOB, BPW = sys.argv[1:7]
PORT = int(PORT)
STEP = 10


def make(jid, pw):
    return client(jid, pw, ("xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0084"))


async def main():
    loop = asyncio.get_event_loop()
    a, b = make(ALICE, APW), make(BOB, BPW)
    started = {"a": asyncio.Event(), "b": asyncio.Event()}
    events = asyncio.Queue()

    async def a_start(_):
        a.send_presence()
        started["a"].set()

    async def b_start(_):
        # Caps with the +notify interest first, then the presence that
        # carries them.
        await b["xep_0115"].update_caps(broadcast=False)
        b.send_presence()
        started["b"].set()

    a.add_event_handler("session_start", a_start)
    b.add_event_handler("session_start", b_start)

    def on_meta(msg):
        items = msg["pubsub_event"]["items"]
        events.put_nowait((str(msg["from"]), items["node"], items["item"]["id"]))

    b.add_event_handler("avatar_metadata_publish", on_meta)

    for c in (a, b):
        c.connect((HOST, PORT))
    await asyncio.wait_for(asyncio.gather(started["a"].wait(), started["b"].wait()), STEP)
    print("OK login", a.boundjid, b.boundjid, flush=True)

    async def publish(data):
        sha = hashlib.sha1(data).hexdigest()
        await asyncio.wait_for(a["xep_0084"].publish_avatar(data), STEP)
        await asyncio.wait_for(a["xep_0084"].publish_avatar_metadata(
            [{"id": sha, "type": "image/png", "bytes": len(data)}]), STEP)
        return sha

    first = await publish(b"first avatar bytes")
    print("OK alice published avatar", first, flush=True)
    frm, node, iid = await asyncio.wait_for(events.get(), STEP)
    if frm != ALICE.split("/")[0] or node != "urn:xmpp:avatar:metadata" or iid != first:
        raise SystemExit("FAIL first notification %s %s %s" % (frm, node, iid))
    print("OK bob notified of", iid, "from", frm, flush=True)

    second = await publish(b"second avatar bytes")
    frm, node, iid = await asyncio.wait_for(events.get(), STEP)
    if frm != ALICE.split("/")[0] or iid != second:
        raise SystemExit("FAIL live notification %s %s %s" % (frm, node, iid))
    print("OK bob notified live of", iid, flush=True)

    res = await asyncio.wait_for(b["xep_0060"].get_items(ALICE.split("/")[0], "urn:xmpp:avatar:metadata"), STEP)
    ids = [it["id"] for it in res["pubsub"]["items"]]
    if ids != [second]:
        raise SystemExit("FAIL items %s" % ids)
    print("OK bob retrieved metadata", ids[0], flush=True)
    res = await asyncio.wait_for(b["xep_0084"].retrieve_avatar(ALICE.split("/")[0], second), STEP)
    data = res["pubsub"]["items"]["item"]["avatar_data"]["value"]
    if data != b"second avatar bytes":
        raise SystemExit("FAIL avatar data %r" % data)
    print("OK bob retrieved avatar data", flush=True)

    for c in (a, b):
        c.disconnect()
    print("PASS", flush=True)


if __name__ == "__main__":
    if "-v" in sys.argv[7:]:
        logging.basicConfig(level=logging.DEBUG)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 30))
    except asyncio.TimeoutError:
        print("FAIL timeout", flush=True)
        sys.exit(1)
