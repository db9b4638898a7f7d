// Links carry MQTT bytes between the page and the broker; mqtt.js runs over
// either. A link is { send(Uint8Array), close(), onbytes, onclose,
// transport }, handed out once open.

import { Engine } from "./eio.js";
import { Socket } from "./sio.js";

// socketIOLink speaks MQTT.IO: namespace /mqtt, event "message", one binary
// argument of MQTT bytes. transports: ["polling"], ["websocket"] or both
// (polling first, then the upgrade). onchange fires when the transport does.
export function socketIOLink(transports, onchange = () => {}) {
  return new Promise((resolve, reject) => {
    const engine = new Engine("socket.io/", { transports });
    const sock = new Socket(engine, "/mqtt");
    const link = {
      send: (bytes) => sock.emit("message", bytes),
      close: () => sock.close(),
      onbytes() {},
      onclose() {},
      get transport() { return `Socket.IO ${engine.transport}`; },
    };
    engine.ontransport = () => onchange(link);
    sock.onconnect = () => resolve(link);
    sock.onevent = (name, [data]) => {
      if (name === "message" && data instanceof Uint8Array) link.onbytes(data);
    };
    sock.onclose = (reason) => {
      reject(new Error(reason));
      link.onclose(reason);
    };
    engine.open();
  });
}

// webSocketLink is plain MQTT over WebSocket (subprotocol "mqtt").
export function webSocketLink(path = "mqtt") {
  return new Promise((resolve, reject) => {
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, "mqtt");
    ws.binaryType = "arraybuffer";
    const link = { send: (b) => ws.send(b), close: () => ws.close(), onbytes() {}, onclose() {}, transport: "WebSocket" };
    ws.onopen = () => resolve(link);
    ws.onmessage = (e) => link.onbytes(new Uint8Array(e.data));
    ws.onclose = (e) => {
      const reason = `websocket closed (${e.code})`;
      reject(new Error(reason));
      link.onclose(reason);
    };
  });
}
