#!/usr/bin/python3
"""Drives slixmpp's XEP-0363 plugin (xep_0363, which PUTs with aiohttp)
against xmppd's upload service.

usage: slixmpp_upload.py HOST PORT JID PW CAFILE

CAFILE is the test server's self-signed certificate for the host: the
HTTPS side is verified against it (name included), only the XMPP stream
skips verification as the other scripts do. Steps: log in; find the
upload service by disco (identity store/file, the max-file-size form);
upload a file with the plugin's upload_file (slot request, PUT); download
the GET URL with aiohttp and compare; ask for a slot larger than the
maximum and get not-acceptable; the plugin itself refuses a file over
the advertised maximum. Prints one OK line per step, PASS at the end.
"""
import asyncio
import io
import ssl
import sys

import aiohttp
from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0363 import http_upload

from scenario import run
from slixmpp_util import client, login

HOST, PORT, JID, PW, CAFILE = sys.argv[1:6]
PORT = int(PORT)
STEP = 15

HTTPS = ssl.create_default_context(cafile=CAFILE)


def VerifiedSession(*args, **kwargs):
    """The plugin's ClientSession, trusting the test server's certificate."""
    kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=HTTPS))
    return aiohttp.ClientSession(*args, **kwargs)


http_upload.ClientSession = VerifiedSession


async def main():
    c = client(JID, PW, ("xep_0030", "xep_0128", "xep_0363"))
    await login(c, HOST, PORT, STEP)

    up = c["xep_0363"]
    # The plugin's own find_upload_service fails on Python 3.11 in
    # slixmpp 1.8.3 (its get_info_from_domain passes coroutines to
    # asyncio.wait): the same disco walk by hand, items of the domain
    # then the info of each, and the result handed to the plugin as
    # find_upload_service would.
    disco = c["xep_0030"]
    items = await disco.get_items(jid=c.boundjid.domain, timeout=STEP)
    info = None
    for item in items["disco_items"]["items"]:
        i = await disco.get_info(jid=item[0], timeout=STEP)
        ids = [(x[0], x[1]) for x in i["disco_info"]["identities"]]
        if ("store", "file") in ids and "urn:xmpp:http:upload:0" in i["disco_info"]["features"]:
            info = i
            break
    if info is None:
        raise SystemExit("FAIL no upload service found")
    maxsize = None
    for form in info["disco_info"].iterables:
        values = form["values"]
        if values.get("FORM_TYPE") == ["urn:xmpp:http:upload:0"]:
            maxsize = int(values["max-file-size"])
    up.upload_service, up.max_file_size = info["from"], maxsize
    print("OK service", info["from"], "max-file-size", maxsize, flush=True)

    data = "Grüße aus slixmpp\n".encode() * 100
    url = await asyncio.wait_for(up.upload_file(
        "grüße.txt", size=len(data), content_type="text/plain",
        input_file=io.BytesIO(data), timeout=STEP), STEP)
    print("OK uploaded", url, flush=True)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=HTTPS)) as s:
        async with s.get(url) as r:
            body = await r.read()
            if r.status != 200 or body != data or r.headers.get("Content-Type") != "text/plain":
                raise SystemExit("FAIL download %s %s %d bytes" % (r.status, r.headers.get("Content-Type"), len(body)))
    print("OK downloaded", len(body), "bytes", flush=True)

    try:
        await up.request_slot(info["from"], "big.bin", maxsize + 1, timeout=STEP)
        raise SystemExit("FAIL slot larger than max-file-size granted")
    except IqError as e:
        cond = e.iq["error"]["condition"]
        if cond != "not-acceptable":
            raise SystemExit("FAIL too large: %s" % cond)
    print("OK too large refused", cond, flush=True)

    try:
        await up.upload_file("big.bin", size=maxsize + 1, input_file=io.BytesIO(b""), timeout=STEP)
        raise SystemExit("FAIL plugin uploaded over max-file-size")
    except http_upload.FileTooBig:
        print("OK plugin honours max-file-size", flush=True)

    c.disconnect()


if __name__ == "__main__":
    run(main)
