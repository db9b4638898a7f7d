"""MQTT.IO through a real third-party Socket.IO client (Debian python3-socketio).

Usage: mqttio_client.py URL TRANSPORTS   (TRANSPORTS: polling | websocket | polling,websocket)

Connects to namespace /mqtt, speaks MQTT 3.1.1 in binary "message" events
(CONNECT, SUBSCRIBE, PUBLISH at QoS 0/1/2 with their acks, PINGREQ,
DISCONNECT) against whatever broker serves the endpoint, and prints the
transport it ended on, then OK. Any surprise exits non-zero.
"""
import queue
import struct
import sys
import threading

import socketio

url, transports = sys.argv[1], sys.argv[2].split(",")
events = queue.Queue()
sio = socketio.Client()
# python-engineio 4.3 hands each received Engine.IO message to a new thread,
# so a binary event's header and its attachment, or two events, may be
# handled out of order: handle them in arrival order, on the reading thread.
_trigger = sio.eio._trigger_event
sio.eio._trigger_event = lambda event, *args, run_async=False, **kwargs: _trigger(event, *args, **kwargs)
sio.on("message", lambda data: events.put(bytes(data)), namespace="/mqtt")
gone = threading.Event()
sio.on("disconnect", gone.set, namespace="/mqtt")
sio.connect(url, namespaces=["/mqtt"], transports=transports, wait_timeout=5)

stream = bytearray()


def packet():
    """The next MQTT packet of the byte stream the events carry."""
    while True:
        i, n, shift = 1, 0, 0
        while i < len(stream):
            n |= (stream[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not stream[i - 1] & 0x80:
                if len(stream) >= i + n:
                    p = bytes(stream[: i + n])
                    del stream[: i + n]
                    return p
                break
        stream.extend(events.get(timeout=5))


def send(first, body=b""):
    n, length = len(body), bytearray()
    while True:
        d, n = n & 0x7F, n >> 7
        length.append(d | (0x80 if n else 0))
        if not n:
            break
    sio.emit("message", bytes([first]) + bytes(length) + body, namespace="/mqtt")


def mqtt_str(s):
    return struct.pack(">H", len(s)) + s.encode()


def expect(want):
    got = packet()
    if got != want:
        sys.exit(f"got {got.hex()}, want {want.hex()}")
    return got


def expect_publish(topic, payload, qos):
    p = packet()
    if p[0] >> 4 != 3 or (p[0] >> 1) & 3 != qos:
        sys.exit(f"got {p.hex()}, want a QoS {qos} PUBLISH")
    body = p[2:] if p[1] < 0x80 else p[3:]
    n = struct.unpack(">H", body[:2])[0]
    got_topic, rest = body[2 : 2 + n].decode(), body[2 + n :]
    pid = rest[:2] if qos else b""
    if got_topic != topic or rest[len(pid) :] != payload:
        sys.exit(f"got PUBLISH {got_topic} {rest!r}, want {topic} {payload!r}")
    return pid


send(0x10, mqtt_str("MQTT") + bytes([4, 2, 0, 60]) + mqtt_str("io1"))
expect(bytes.fromhex("20020000"))
send(0x82, b"\x00\x01" + mqtt_str("t/#") + b"\x01")
expect(bytes.fromhex("9003000101"))

send(0x30, mqtt_str("t/0") + b"qos0")
expect_publish("t/0", b"qos0", 0)

send(0x32, mqtt_str("t/1") + b"\x00\x02" + b"qos1")
expect(bytes.fromhex("40020002"))
pid = expect_publish("t/1", b"qos1", 1)
send(0x40, pid)

send(0x34, mqtt_str("t/2") + b"\x00\x03" + b"qos2")
expect(bytes.fromhex("50020003"))
pid = expect_publish("t/2", b"qos2", 1)  # granted QoS 1
send(0x40, pid)
send(0x62, b"\x00\x03")
expect(bytes.fromhex("70020003"))

send(0xC0)
expect(bytes.fromhex("d000"))
print("transport=" + sio.transport())
send(0xE0)
# The broker closes the connection on DISCONNECT, and the server then
# disconnects the namespace. Wait for it: python-engineio 4.3 may drop what
# is still queued (the DISCONNECT itself) when disconnect() is called while
# a POST is under way.
if not gone.wait(5):
    sys.exit("the namespace stayed connected after DISCONNECT")
sio.disconnect()
print("OK")
