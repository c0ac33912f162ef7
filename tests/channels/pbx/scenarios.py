"""AMI event sequences as an Asterisk 18 PBX (FreePBX 16) sends them, with the fields the
Asterisk reference lists for each event (ManagerEvent_Newchannel, _QueueCallerJoin,
_AgentCalled, _DialBegin, _DialEnd, _AgentConnect, _BridgeEnter, _QueueCallerAbandon, _Hangup),
trimmed of the ones that repeat (ConnectedLine*, Language, AccountCode on every leg)."""

from __future__ import annotations

CALLER = "+393331234567"
DID = "0212345678"


def _channel(
    name: str,
    uid: str,
    linked: str,
    *,
    num: str,
    cname: str,
    context: str,
    exten: str,
    state: str = "4",
    desc: str = "Ring",
) -> dict[str, str]:
    return {
        "Channel": name,
        "ChannelState": state,
        "ChannelStateDesc": desc,
        "CallerIDNum": num,
        "CallerIDName": cname,
        "ConnectedLineNum": "<unknown>",
        "ConnectedLineName": "<unknown>",
        "Language": "it",
        "AccountCode": "",
        "Context": context,
        "Exten": exten,
        "Priority": "1",
        "Uniqueid": uid,
        "Linkedid": linked,
    }


def _dest(name: str, uid: str, linked: str, exten: str) -> dict[str, str]:
    return {
        "DestChannel": name,
        "DestChannelState": "5",
        "DestChannelStateDesc": "Ringing",
        "DestCallerIDNum": exten,
        "DestCallerIDName": "",
        "DestContext": "from-queue",
        "DestExten": exten,
        "DestPriority": "1",
        "DestUniqueid": uid,
        "DestLinkedid": linked,
    }


def queue_call_answered(uid: str = "1765120000.10", agent_ext: str = "201") -> list[dict[str, str]]:
    trunk = "PJSIP/eolo-trunk-0000000a"
    caller = _channel(
        trunk,
        uid,
        uid,
        num=CALLER,
        cname="Mario Rossi",
        context="from-trunk",
        exten=DID,
        state="0",
        desc="Down",
    )
    local1 = f"Local/{agent_ext}@from-queue-00000004;1"
    phone = f"PJSIP/{agent_ext}-0000000c"
    phone_uid = uid.rsplit(".", 1)[0] + ".13"
    in_queue = {
        **caller,
        "Context": "ext-queues",
        "Exten": "400",
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
    }
    return [
        {"Event": "Newchannel", "Privilege": "call,all", **caller},
        {
            "Event": "Newexten",
            "Privilege": "dialplan,all",
            **caller,
            "Application": "Set",
            "AppData": "__FROM_DID=0212345678",
        },
        {
            "Event": "QueueCallerJoin",
            "Privilege": "agent,all",
            **in_queue,
            "Queue": "400",
            "Position": "1",
            "Count": "1",
        },
        {
            "Event": "AgentCalled",
            "Privilege": "agent,all",
            **in_queue,
            **_dest(local1, uid[:-1] + "1", uid, agent_ext),
            "Queue": "400",
            "Interface": f"Local/{agent_ext}@from-queue/n",
            "MemberName": "Sara",
        },
        {
            "Event": "DialBegin",
            "Privilege": "call,all",
            **in_queue,
            **_dest(local1, uid[:-1] + "1", uid, agent_ext),
            "DialString": f"{agent_ext}@from-queue/n",
        },
        {
            "Event": "Newchannel",
            "Privilege": "call,all",
            **_channel(
                phone,
                phone_uid,
                uid,
                num=agent_ext,
                cname="Sara",
                context="from-internal",
                exten=agent_ext,
                state="5",
                desc="Ringing",
            ),
        },
        {
            "Event": "DialEnd",
            "Privilege": "call,all",
            **in_queue,
            **_dest(local1, uid[:-1] + "1", uid, agent_ext),
            "DialStatus": "ANSWER",
        },
        {
            "Event": "AgentConnect",
            "Privilege": "agent,all",
            **in_queue,
            **_dest(local1, uid[:-1] + "1", uid, agent_ext),
            "Queue": "400",
            "Interface": f"Local/{agent_ext}@from-queue/n",
            "MemberName": "Sara",
            "HoldTime": "12",
            "RingTime": "4",
        },
        {
            "Event": "QueueCallerLeave",
            "Privilege": "agent,all",
            **in_queue,
            "Queue": "400",
            "Position": "1",
            "Count": "0",
        },
        {
            "Event": "BridgeEnter",
            "Privilege": "call,all",
            "BridgeUniqueid": "b-1",
            "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge",
            "BridgeNumChannels": "1",
            **in_queue,
        },
        {
            "Event": "BridgeEnter",
            "Privilege": "call,all",
            "BridgeUniqueid": "b-1",
            "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge",
            "BridgeNumChannels": "2",
            **_channel(
                phone,
                phone_uid,
                uid,
                num=agent_ext,
                cname="Sara",
                context="from-internal",
                exten=agent_ext,
                state="6",
                desc="Up",
            ),
        },
    ]


def hangups(
    uid: str = "1765120000.10", agent_ext: str = "201", *, agent_first: bool = False
) -> list[dict[str, str]]:
    phone_uid = uid.rsplit(".", 1)[0] + ".13"
    agent = {
        "Event": "Hangup",
        "Privilege": "call,all",
        **_channel(
            f"PJSIP/{agent_ext}-0000000c",
            phone_uid,
            uid,
            num=agent_ext,
            cname="Sara",
            context="from-internal",
            exten=agent_ext,
            state="6",
            desc="Up",
        ),
        "Cause": "16",
        "Cause-txt": "Normal Clearing",
    }
    customer = {
        "Event": "Hangup",
        "Privilege": "call,all",
        **_channel(
            "PJSIP/eolo-trunk-0000000a",
            uid,
            uid,
            num=CALLER,
            cname="Mario Rossi",
            context="ext-queues",
            exten="400",
            state="6",
            desc="Up",
        ),
        "Cause": "16",
        "Cause-txt": "Normal Clearing",
    }
    return [agent, customer] if agent_first else [customer, agent]


def queue_call_abandoned(uid: str = "1765120100.20", hold: str = "45") -> list[dict[str, str]]:
    caller = _channel(
        "PJSIP/eolo-trunk-00000014",
        uid,
        uid,
        num="+393471112223",
        cname="Anna Verdi",
        context="from-trunk",
        exten=DID,
        state="0",
        desc="Down",
    )
    in_queue = {
        **caller,
        "Context": "ext-queues",
        "Exten": "400",
        "ChannelState": "6",
        "ChannelStateDesc": "Up",
    }
    local1 = "Local/201@from-queue-00000009;1"
    return [
        {"Event": "Newchannel", "Privilege": "call,all", **caller},
        {
            "Event": "QueueCallerJoin",
            "Privilege": "agent,all",
            **in_queue,
            "Queue": "400",
            "Position": "1",
            "Count": "1",
        },
        {
            "Event": "DialBegin",
            "Privilege": "call,all",
            **in_queue,
            **_dest(local1, uid[:-1] + "1", uid, "201"),
            "DialString": "201@from-queue/n",
        },
        {
            "Event": "DialEnd",
            "Privilege": "call,all",
            **in_queue,
            **_dest(local1, uid[:-1] + "1", uid, "201"),
            "DialStatus": "CANCEL",
        },
        {
            "Event": "QueueCallerAbandon",
            "Privilege": "agent,all",
            **in_queue,
            "Queue": "400",
            "Position": "1",
            "OriginalPosition": "1",
            "HoldTime": hold,
        },
        {
            "Event": "QueueCallerLeave",
            "Privilege": "agent,all",
            **in_queue,
            "Queue": "400",
            "Position": "1",
            "Count": "0",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            **in_queue,
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]


def direct_call(uid: str = "1765120200.30", agent_ext: str = "202") -> list[dict[str, str]]:
    """A DID routed straight to an extension (FreePBX inbound route -> extension)."""
    caller = _channel(
        "PJSIP/eolo-trunk-0000001e",
        uid,
        uid,
        num="3355550000",
        cname="",
        context="from-pstn",
        exten=DID,
        state="0",
        desc="Down",
    )
    phone_uid = uid.rsplit(".", 1)[0] + ".31"
    phone = f"PJSIP/{agent_ext}-0000001f"
    dest = {**_dest(phone, phone_uid, uid, agent_ext), "DestContext": "from-internal"}
    agent_leg = _channel(
        phone,
        phone_uid,
        uid,
        num=agent_ext,
        cname="Luca",
        context="from-internal",
        exten=agent_ext,
        state="6",
        desc="Up",
    )
    return [
        {"Event": "Newchannel", "Privilege": "call,all", **caller},
        {"Event": "DialBegin", "Privilege": "call,all", **caller, **dest, "DialString": agent_ext},
        {"Event": "Newchannel", "Privilege": "call,all", **agent_leg},
        {"Event": "DialEnd", "Privilege": "call,all", **caller, **dest, "DialStatus": "ANSWER"},
        {"Event": "BridgeEnter", "Privilege": "call,all", "BridgeUniqueid": "b-3", **caller},
        {"Event": "BridgeEnter", "Privilege": "call,all", "BridgeUniqueid": "b-3", **agent_leg},
        {"Event": "BridgeLeave", "Privilege": "call,all", "BridgeUniqueid": "b-3", **agent_leg},
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            **agent_leg,
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            **caller,
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]


def internal_call(uid: str = "1765120300.40") -> list[dict[str, str]]:
    """Extension 201 calls 202: not a customer's call."""
    leg = _channel(
        "PJSIP/201-00000028",
        uid,
        uid,
        num="201",
        cname="Sara",
        context="from-internal",
        exten="202",
        state="0",
        desc="Down",
    )
    return [
        {"Event": "Newchannel", "Privilege": "call,all", **leg},
        {
            "Event": "Hangup",
            "Privilege": "call,all",
            **leg,
            "Cause": "16",
            "Cause-txt": "Normal Clearing",
        },
    ]
