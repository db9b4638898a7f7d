"""MQTT over WebSocket with a real third-party client (Debian python3-paho-mqtt 1.6).

Usage: paho_ws.py HOST PORT

Subscribes to p/# at QoS 2, publishes at QoS 0, 1 and 2, and waits for the
three messages to come back; prints OK.
"""
import sys
import threading

import paho.mqtt.client as mqtt

host, port = sys.argv[1], int(sys.argv[2])
got, done, subscribed = [], threading.Event(), threading.Event()

c = mqtt.Client(client_id="paho-ws", transport="websockets")
c.ws_set_options(path="/mqtt")
c.on_connect = lambda c, u, flags, rc: c.subscribe("p/#", qos=2) if rc == 0 else sys.exit(f"CONNACK {rc}")
c.on_subscribe = lambda c, u, mid, granted: subscribed.set()


def on_message(c, u, m):
    got.append((m.topic, m.payload, m.qos))
    if len(got) == 3:
        done.set()


c.on_message = on_message
c.connect(host, port, keepalive=30)
c.loop_start()
if not subscribed.wait(5):
    sys.exit("no SUBACK")
for qos in (0, 1, 2):
    c.publish(f"p/{qos}", f"qos{qos}", qos=qos)
if not done.wait(5):
    sys.exit(f"messages: {got}")
want = [(f"p/{q}", f"qos{q}".encode(), q) for q in (0, 1, 2)]
if sorted(got) != want:
    sys.exit(f"got {got}, want {want}")
c.disconnect()
c.loop_stop()
print("OK")
