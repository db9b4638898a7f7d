#!/usr/bin/python3
"""An Eclipse Paho (python3-paho-mqtt) client driven by the interop tests.

    paho_client.py --port P --version 311|5 [--id ID] [--no-clean]
                   [--session-expiry S] [--will-topic T [--will-payload P]
                   [--will-qos Q] [--will-retain] [--will-user-prop k=v]...]

It connects at once, then runs the commands it reads on stdin, one JSON
object per line, one after the other:

    {"cmd": "subscribe", "subs": [["a/#", 2], ["b", 1]]}
    {"cmd": "publish", "topic": "a/b", "qos": 1, "retain": false, "payload": "x",
     "user_properties": [["k", "v"]], "content_type": "text/plain"}
    {"cmd": "disconnect"}

and prints what happens on stdout, one JSON object per line:

    {"event": "connected", "rc": 0, "session_present": false}
    {"event": "subscribed", "granted": [2, 1]}
    {"event": "published", "payload": "x"}      after PUBACK (QoS 1) / PUBCOMP (QoS 2)
    {"event": "message", "topic": ..., "payload": ..., "qos": 1, "retain": false,
     "dup": false, "user_properties": [["k", "v"]], "content_type": "text/plain"}
    {"event": "disconnected", "rc": 0}            then it exits 0
    {"event": "error", "error": ...}              then it exits 1

v5 properties are sent and printed only on v5. It never reconnects; it
exits when stdin closes and after --timeout seconds whatever happens, so it
cannot outlive a test. Written for paho-mqtt 1.6 (Debian bookworm); with
paho-mqtt 2.x it asks for the 1.x callback signatures.
"""

import argparse
import json
import os
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

out_lock = threading.Lock()


def emit(**fields):
    with out_lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def fail(msg):
    emit(event="error", error=msg)
    os._exit(1)


def code(rc):
    """The int of a v3 return code or of a v5 ReasonCodes object."""
    return rc.value if hasattr(rc, "value") else int(rc)


def pairs(items):
    out = []
    for kv in items or []:
        k, sep, v = kv.partition("=")
        if not sep:
            fail("want key=value, got %r" % kv)
        out.append((k, v))
    return out


class Client:
    def __init__(self, args):
        self.args = args
        self.v5 = args.version == "5"
        self.cond = threading.Condition()
        self.connected = False
        self.closed = False
        self.acked = set()
        self.subacks = {}

        kw = {"client_id": args.id, "protocol": mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
              "reconnect_on_failure": False}
        if not self.v5:
            kw["clean_session"] = not args.no_clean
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt >= 2.0
            kw["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
        c = mqtt.Client(**kw)
        if args.will_topic:
            props = None
            if self.v5 and args.will_user_prop:
                props = Properties(PacketTypes.WILLMESSAGE)
                props.UserProperty = pairs(args.will_user_prop)
            c.will_set(args.will_topic, args.will_payload, args.will_qos, args.will_retain, props)
        c.on_connect = self.on_connect
        c.on_disconnect = self.on_disconnect
        c.on_subscribe = self.on_subscribe
        c.on_publish = self.on_publish
        c.on_message = self.on_message
        self.c = c

    def wait(self, what, pred):
        with self.cond:
            if not self.cond.wait_for(lambda: pred() or self.closed, self.args.timeout):
                fail("timed out waiting for " + what)
            if not pred():
                fail("connection closed while waiting for " + what)

    # callbacks, on paho's network thread

    def on_connect(self, c, userdata, flags, rc, properties=None):
        emit(event="connected", rc=code(rc), session_present=bool(flags.get("session present")))
        if code(rc) != 0:
            fail("connection refused: %s" % rc)
        with self.cond:
            self.connected = True
            self.cond.notify_all()

    def on_disconnect(self, c, userdata, rc, properties=None):
        emit(event="disconnected", rc=code(rc))
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def on_subscribe(self, c, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [code(g) for g in granted]
            self.cond.notify_all()

    def on_publish(self, c, userdata, mid):
        with self.cond:
            self.acked.add(mid)
            self.cond.notify_all()

    def on_message(self, c, userdata, msg):
        ev = {"event": "message", "topic": msg.topic, "payload": msg.payload.decode("utf-8", "replace"),
              "qos": msg.qos, "retain": bool(msg.retain), "dup": bool(msg.dup)}
        props = getattr(msg, "properties", None)
        if props is not None:
            ups = getattr(props, "UserProperty", None)
            if ups:
                ev["user_properties"] = [list(p) for p in ups]
            ct = getattr(props, "ContentType", None)
            if ct is not None:
                ev["content_type"] = ct
        emit(**ev)

    # commands, on the main thread

    def connect(self):
        a = self.args
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            if a.session_expiry is not None:
                props.SessionExpiryInterval = a.session_expiry
            self.c.connect("127.0.0.1", a.port, keepalive=30, clean_start=not a.no_clean, properties=props)
        else:
            self.c.connect("127.0.0.1", a.port, keepalive=30)
        self.c.loop_start()
        self.wait("CONNACK", lambda: self.connected)

    def subscribe(self, cmd):
        subs = [(t, SubscribeOptions(qos=q) if self.v5 else q) for t, q in cmd["subs"]]
        rc, mid = self.c.subscribe(subs)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            fail("subscribe: %s" % mqtt.error_string(rc))
        self.wait("SUBACK", lambda: mid in self.subacks)
        emit(event="subscribed", granted=self.subacks[mid])

    def publish(self, cmd):
        props = None
        if self.v5 and (cmd.get("user_properties") or cmd.get("content_type")):
            props = Properties(PacketTypes.PUBLISH)
            if cmd.get("user_properties"):
                props.UserProperty = [tuple(p) for p in cmd["user_properties"]]
            if cmd.get("content_type"):
                props.ContentType = cmd["content_type"]
        info = self.c.publish(cmd["topic"], cmd["payload"], cmd.get("qos", 0), cmd.get("retain", False), props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            fail("publish: %s" % mqtt.error_string(info.rc))
        self.wait("the acknowledgement of message %d" % info.mid, lambda: info.mid in self.acked)
        emit(event="published", payload=cmd["payload"])

    def disconnect(self):
        self.c.disconnect()
        with self.cond:
            self.cond.wait_for(lambda: self.closed, self.args.timeout)
        self.c.loop_stop()
        os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--version", choices=["311", "5"], required=True)
    ap.add_argument("--id", default="")
    ap.add_argument("--no-clean", action="store_true", help="clean_session=False / clean_start=False")
    ap.add_argument("--session-expiry", type=int, help="v5 Session Expiry Interval")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--will-topic")
    ap.add_argument("--will-payload", default="")
    ap.add_argument("--will-qos", type=int, default=0)
    ap.add_argument("--will-retain", action="store_true")
    ap.add_argument("--will-user-prop", action="append", help="k=v, v5 only")
    args = ap.parse_args()

    watchdog = threading.Timer(args.timeout, lambda: fail("still running after %gs" % args.timeout))
    watchdog.daemon = True
    watchdog.start()
    try:
        cl = Client(args)
        cl.connect()
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            op = cmd.get("cmd")
            if op == "subscribe":
                cl.subscribe(cmd)
            elif op == "publish":
                cl.publish(cmd)
            elif op == "disconnect":
                cl.disconnect()
            else:
                fail("unknown command %r" % op)
    except Exception as e:  # noqa: BLE001 - reported to the Go test
        fail("%s: %s" % (type(e).__name__, e))
    fail("stdin closed")


if __name__ == "__main__":
    main()
