#!/usr/bin/python3
"""Pages through a XEP-0313 archive with slixmpp's MAM plugin (xep_0313).

usage: slixmpp_mam.py HOST PORT MODE JID PW PEER N

The test has put N chat messages "m0".."m{N-1}" from PEER into JID's
archive while JID was offline. This script logs in as JID, checks the MAM
disco features on its own bare JID and the query form, pages through the
whole archive forwards and backwards with RSM (10 per page), runs a 'with'
query limited to one page, reads the archive metadata, and checks that the
offline copies carry XEP-0359 stanza-ids equal to the archive ids. Prints
one line per step and exits 0 only if all of them happened.
"""
import asyncio
import logging
import sys

import slixmpp

from slixmpp_util import client

HOST, PORT, MODE, JID, PW, PEER, N = sys.argv[1:8]
PORT, N = int(PORT), int(N)
TIMEOUT = 20
NS = "urn:xmpp:mam:2"


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def body(result):
    return result["mam_result"]["forwarded"]["stanza"]["body"]


async def main():
    c = client(JID, PW, ("xep_0030", "xep_0059", "xep_0297", "xep_0313", "xep_0359"), direct=MODE == "direct")

    started = asyncio.Event()
    offline = []  # offline copies delivered after presence

    async def on_start(_):
        c.send_presence()
        await c.get_roster()
        started.set()

    def on_message(msg):
        if msg["type"] == "chat" and not msg["mam_result"]["id"]:
            offline.append(msg)

    c.add_event_handler("session_start", on_start)
    c.add_event_handler("message", on_message)
    c.add_event_handler("failed_all_auth", lambda *_: fail("authentication failed"))
    c.connect((HOST, PORT))
    await asyncio.wait_for(started.wait(), TIMEOUT)
    bare = slixmpp.JID(JID).bare
    print("OK login " + JID, flush=True)

    info = await c["xep_0030"].get_info(jid=bare, timeout=TIMEOUT)
    feats = info["disco_info"]["features"]
    if NS not in feats or NS + "#extended" not in feats or "urn:xmpp:sid:0" not in feats:
        fail("disco features on %s: %s" % (bare, feats))
    print("OK disco mam features on " + bare, flush=True)

    form = await c["xep_0313"].get_fields(jid=bare, timeout=TIMEOUT)
    fs = form["fields"]
    # A dict of var -> field, or (as slixmpp 1.8.3 returns it here) a
    # list of (var, field) pairs.
    fields = set(fs.keys()) if hasattr(fs, "keys") else {f[0] if isinstance(f, tuple) else f["var"] for f in fs}
    if not {"with", "start", "end", "after-id", "before-id", "ids"} <= fields:
        fail("form fields %s" % fields)
    print("OK query form", flush=True)

    want = ["m%d" % i for i in range(N)]

    # Forwards: the plugin's RSM iterator sends <after/> with the last id.
    got, ids = [], []
    async for r in c["xep_0313"].iterate(jid=bare, rsm={"max": 10}):
        got.append(body(r))
        ids.append(r["mam_result"]["id"])
    if got != want:
        fail("forward paging got %s" % got)
    if len(set(ids)) != N:
        fail("archive ids not unique: %s" % ids)
    print("OK forward pages %d messages in order" % N, flush=True)

    # Backwards: <before/> (last page) then <before/> with the first id;
    # the plugin yields newest first.
    got = []
    async for r in c["xep_0313"].iterate(jid=bare, rsm={"max": 10}, reverse=True):
        got.append(body(r))
    if got != list(reversed(want)):
        fail("backward paging got %s" % got)
    print("OK backward pages %d messages newest first" % N, flush=True)

    # One page of a 'with' query: the count is the whole result set's.
    iq = await c["xep_0313"].retrieve(jid=bare, with_jid=slixmpp.JID(PEER),
                                      rsm={"max": 5}, timeout=TIMEOUT)
    results = iq["mam"]["results"]
    fin = iq["mam_fin"]
    if [body(r) for r in results] != want[:5]:
        fail("with page got %s" % [body(r) for r in results])
    if fin["rsm"]["count"] != str(N) or fin["complete"] in ("true", True):
        fail("with page fin: count %r complete %r" % (fin["rsm"]["count"], fin["complete"]))
    if fin["rsm"]["first"] != ids[0] or fin["rsm"]["last"] != ids[4]:
        fail("with page first/last %s %s" % (fin["rsm"]["first"], fin["rsm"]["last"]))
    print("OK with %s page of 5, count %d" % (PEER, N), flush=True)

    md = await c["xep_0313"].get_archive_metadata(jid=bare, timeout=TIMEOUT)
    if md["mam_metadata"]["start"]["id"] != ids[0] or md["mam_metadata"]["end"]["id"] != ids[-1]:
        fail("metadata %s" % md)
    print("OK metadata start and end ids", flush=True)

    # The offline copies came with presence; each says its archive id.
    sids = [m["stanza_id"]["id"] for m in offline if m["stanza_id"]["by"] == bare]
    if sids != ids:
        fail("stanza-ids of %d offline messages %s, archive ids %s" % (len(offline), sids, ids))
    print("OK offline copies carry the archive ids as stanza-id", flush=True)

    c.disconnect()
    print("PASS", flush=True)


if __name__ == "__main__":
    if "-v" in sys.argv[8:]:
        logging.basicConfig(level=logging.DEBUG)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 40))
    except asyncio.TimeoutError:
        fail("timed out")
