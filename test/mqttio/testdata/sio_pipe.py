"""A byte pipe through a real third-party Socket.IO client (Debian python3-socketio).

Usage: sio_pipe.py URL TRANSPORTS      (TRANSPORTS: polling | websocket | polling,websocket)

Connects to the MQTT.IO namespace /mqtt and relays between the test and the
server, so that the test speaks raw MQTT through this client:

  stdin   e <hex>        emit one "message" event with these bytes (binary)
          t              print the transport in use
          q              disconnect and exit (so does the end of stdin)
  stdout  connected <transport>
          m <hex>        one "message" event received
          transport <transport>
          disconnected   the server disconnected the namespace
          bye
"""
import sys
import threading

import socketio

url, transports = sys.argv[1], sys.argv[2].split(",")
lock = threading.Lock()


def out(*words):
    with lock:
        print(*words, flush=True)


sio = socketio.Client(reconnection=False)

# python-engineio 4.3 hands each received Engine.IO message to a new thread,
# so a binary event's header and its attachment, or two events, may be
# handled out of order. MQTT is a byte stream: handle them in arrival order,
# on the reading thread (the handlers only print).
_trigger = sio.eio._trigger_event


def _in_order(event, *args, run_async=False, **kwargs):
    return _trigger(event, *args, **kwargs)


sio.eio._trigger_event = _in_order

sio.on("message", lambda data: out("m", bytes(data).hex()), namespace="/mqtt")
sio.on("disconnect", lambda: out("disconnected"), namespace="/mqtt")
sio.connect(url, namespaces=["/mqtt"], transports=transports, wait_timeout=5)
out("connected", sio.transport())

for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "e":
        sio.emit("message", bytes.fromhex(arg), namespace="/mqtt")
    elif cmd == "t":
        out("transport", sio.transport())
    elif cmd == "q":
        break
sio.disconnect()
out("bye")
