#!/usr/bin/python3
"""Drives two real aioxmpp clients (aioxmpp.MUCClient) through a XEP-0045
room on xmppd.

usage: aioxmpp_muc.py HOST PORT MODE CERTFILE JID1 PW1 JID2 PW2 ROOM

The first joins ROOM (creating it), fetches the configuration form and
submits it with a room name (a reserved room, §10.1.3) and sets the topic;
the second joins and sees the topic and the first occupant; they exchange
groupchat messages; the second leaves and the first sees it. Prints one
line per step and exits 0 only if all of them happened.
"""
import asyncio
import sys

import aioxmpp
import aioxmpp.muc

from aioxmpp_util import Session
from scenario import Fail, run, step

HOST, PORT, MODE, CERT, JID1, PW1, JID2, PW2, ROOM = sys.argv[1:10]
PORT = int(PORT)


async def scenario():
    a = Session(HOST, PORT, MODE, CERT, JID1, PW1)
    b = Session(HOST, PORT, MODE, CERT, JID2, PW2)
    try:
        await a.start()
        await b.start()
        print("OK logged in", a.full, b.full, flush=True)
        room = aioxmpp.JID.fromstr(ROOM)
        amuc = a.client.summon(aioxmpp.MUCClient)
        bmuc = b.client.summon(aioxmpp.MUCClient)

        aroom, fut = amuc.join(room, "Alice")
        await step("alice joins", fut)
        print("OK alice joined as", aroom.me.nick, aroom.me.affiliation, aroom.me.role, flush=True)

        form = aioxmpp.muc.ConfigurationForm.from_xso(await step("config form", amuc.get_room_config(room)))
        form.roomname.value = "aioxmpp room"
        await step("configure", amuc.set_room_config(room, form.render_reply()))
        print("OK room configured", flush=True)
        a_topics = asyncio.Queue()
        aroom.on_topic_changed.connect(lambda member, new_topic, **kw: a_topics.put_nowait(new_topic))
        await step("topic", aroom.set_topic({None: "aioxmpp topic"}))

        async def topic_echo():
            # Only once the room has reflected it is the topic set for bob,
            # whose join travels on another connection.
            while True:
                t = await a_topics.get()
                if t and t.any() == "aioxmpp topic":
                    return
        await step("topic echo", topic_echo())
        print("OK topic set", flush=True)

        joins = asyncio.Queue()
        aroom.on_join.connect(lambda member, **kw: joins.put_nowait(member))
        leaves = asyncio.Queue()
        aroom.on_leave.connect(lambda member, **kw: leaves.put_nowait(member))
        a_msgs, b_msgs = asyncio.Queue(), asyncio.Queue()
        aroom.on_message.connect(lambda msg, member, source, **kw: a_msgs.put_nowait((msg, member)))

        broom, fut = bmuc.join(room, "Bob")
        broom.on_message.connect(lambda msg, member, source, **kw: b_msgs.put_nowait((msg, member)))
        topics = asyncio.Queue()
        broom.on_topic_changed.connect(lambda member, new_topic, **kw: topics.put_nowait(new_topic))
        await step("bob joins", fut)
        # The join completes with the self-presence; the subject comes
        # after it (§7.2.15).
        new_topic = await step("topic at bob", topics.get())
        topic = new_topic.any() if new_topic else None
        nicks = sorted(m.nick for m in broom.members)
        if topic != "aioxmpp topic" or nicks != ["Alice", "Bob"]:
            raise Fail("bob's view: topic %r, members %r" % (topic, nicks))
        print("OK bob joined, topic", topic, "members", nicks, flush=True)
        m = await step("alice sees bob", joins.get())
        print("OK alice sees", m.nick, "join", flush=True)

        msg = aioxmpp.Message(type_=aioxmpp.MessageType.GROUPCHAT)
        msg.body[None] = "hello bob"
        await step("send", aroom.send_message(msg))

        async def expect(q, text):
            while True:
                got, member = await q.get()
                if got.body and got.body.any() == text:
                    return member
        member = await step("bob gets alice's message", expect(b_msgs, "hello bob"))
        print("OK bob received groupchat from", member.nick, flush=True)
        msg = aioxmpp.Message(type_=aioxmpp.MessageType.GROUPCHAT)
        msg.body[None] = "hello alice"
        await step("send", broom.send_message(msg))
        member = await step("alice gets bob's message", expect(a_msgs, "hello alice"))
        print("OK alice received groupchat from", member.nick, flush=True)

        await step("bob leaves", broom.leave())
        m = await step("alice sees bob leave", leaves.get())
        print("OK alice sees", m.nick, "leave", flush=True)
    finally:
        for s in (a, b):
            await s.stop()


if __name__ == "__main__":
    run(scenario)
