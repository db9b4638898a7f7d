"""MQTT over WebSocket through a real third-party client (Debian python3-paho-mqtt 1.6).

Usage: paho_ws.py HOST PORT CLIENT_ID

Connects to ws://HOST:PORT/mqtt (MQTT 3.1.1, clean session) and does what
the test says, reporting what happens, one line each:

  stdin   sub TOPIC QOS
          pub TOPIC QOS RETAIN PAYLOAD     RETAIN is 0 or 1; PAYLOAD is the rest of the line
          quit                             DISCONNECT and exit
  stdout  connected RC
          subscribed MID GRANTED_QOS
          sent MID                          pub queued (MID is its message id)
          published MID                     pub complete: written (QoS 0), PUBACK (1), PUBCOMP (2)
          msg TOPIC QOS RETAIN PAYLOAD      a message arrived (paho sends its acks)
          bye
"""
import sys
import threading

import paho.mqtt.client as mqtt

host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.RLock()


def out(*words):
    with lock:
        print(*words, flush=True)


c = mqtt.Client(client_id=client_id, transport="websockets", clean_session=True)
c.ws_set_options(path="/mqtt")
c.on_connect = lambda c, u, flags, rc: out("connected", rc)
c.on_subscribe = lambda c, u, mid, granted: out("subscribed", mid, *granted)
c.on_publish = lambda c, u, mid: out("published", mid)
c.on_message = lambda c, u, m: out("msg", m.topic, m.qos, int(m.retain), m.payload.decode())
c.connect(host, port, keepalive=30)
c.loop_start()

for line in sys.stdin:
    words = line.rstrip("\n").split(" ", 4)
    if words[0] == "sub":
        _, mid = c.subscribe(words[1], qos=int(words[2]))
        out("sent", mid)
    elif words[0] == "pub":
        with lock:  # so that "sent" comes out before "published"
            info = c.publish(words[1], words[4], qos=int(words[2]), retain=words[3] == "1")
            print("sent", info.mid, flush=True)
    elif words[0] == "quit":
        break
c.disconnect()
c.loop_stop()
out("bye")
