#!/usr/bin/python3
"""Drives slixmpp's XEP-0050 client workflow and its XEP-0133 plugin
against xmppd's service administration commands, as an admin.

usage: slixmpp_adhoc.py HOST PORT JID PW NEWJID NEWPW

Steps: log in; list the server's commands (disco items of the commands
node); run add-user through the plugin (the form of the first stage
filled with NEWJID and NEWPW, then completed); run
get-registered-users-num (one stage) and read the count; run
get-online-users-list (max_items form) and find the own bare JID. Prints
one OK line per step, PASS at the end.
"""
import asyncio
import sys

import scenario
from slixmpp_util import client, login

HOST, PORT, JID, PW, NEWJID, NEWPW = sys.argv[1:7]
PORT = int(PORT)
STEP = 15
ADMIN = "http://jabber.org/protocol/admin"


def run(c, command, values=None):
    """Runs an XEP-0133 command through the xep_0050 session workflow:
    values fill the first stage's form; returns the final Iq."""
    done = asyncio.get_event_loop().create_future()

    def completed(iq, session):
        if not done.done():
            done.set_result(iq)

    def first(iq, session):
        if iq["command"]["status"] == "completed":
            return completed(iq, session)
        form = iq["command"]["form"]
        answer = c["xep_0004"].make_form(ftype="submit")
        answer.add_field(var="FORM_TYPE", ftype="hidden", value=ADMIN)
        for var, val in (values or {}).items():
            f = form.get_fields()[var]
            answer.add_field(var=var, ftype=f["type"], value=val)
        session["payload"] = answer
        session["next"] = completed
        c["xep_0050"].complete_command(session)

    def error(iq, session):
        if not done.done():
            done.set_exception(SystemExit("FAIL %s: %s" % (command, iq["error"]["condition"])))

    getattr(c["xep_0133"], command.replace("-", "_"))(session={"next": first, "error": error})
    return asyncio.wait_for(done, STEP)


async def main():
    c = client(JID, PW, ("xep_0030", "xep_0004", "xep_0050", "xep_0133"))
    await login(c, HOST, PORT, STEP)

    items = await c["xep_0133"].get_commands(timeout=STEP)
    nodes = [i[1] for i in items["disco_items"]["items"]]
    if ADMIN + "#add-user" not in nodes:
        raise SystemExit("FAIL commands: %s" % nodes)
    print("OK commands", len(nodes), flush=True)

    iq = await run(c, "add-user", {"accountjid": NEWJID, "password": NEWPW, "password-verify": NEWPW})
    if iq["command"]["status"] != "completed":
        raise SystemExit("FAIL add-user: %s" % iq)
    print("OK add-user completed", flush=True)

    iq = await run(c, "get-registered-users-num")
    n = iq["command"]["form"]["values"].get("registeredusersnum")
    print("OK registered users", n, flush=True)

    iq = await run(c, "get-online-users-list", {"max_items": "25"})
    online = [str(j) for j in iq["command"]["form"]["values"].get("onlineuserjids", [])]
    if c.boundjid.bare not in online:
        raise SystemExit("FAIL online list: %s" % online)
    print("OK online", " ".join(online), flush=True)

    c.disconnect()


if __name__ == "__main__":
    scenario.run(main)
