// A minimal MQTT 3.1.1 client over any byte link: CONNECT, SUBSCRIBE,
// UNSUBSCRIBE, PUBLISH at QoS 0/1/2 both ways with their acks, PINGREQ
// keepalive, DISCONNECT. A link is { send(Uint8Array), close(),
// onbytes(Uint8Array), onclose(reason) }: see links.js.
//
//   const c = new Client(link, { clientId: "me" });
//   await c.connect();
//   c.onmessage = (topic, payload, { qos, retain }) => …;
//   await c.subscribe("a/#", 1);  await c.publish("a/b", "hi", { qos: 2 });

const enc = new TextEncoder();
const CONNECT = 1, CONNACK = 2, PUBLISH = 3, PUBACK = 4, PUBREC = 5, PUBREL = 6, PUBCOMP = 7,
  SUBSCRIBE = 8, SUBACK = 9, UNSUBSCRIBE = 10, UNSUBACK = 11, PINGREQ = 12, PINGRESP = 13, DISCONNECT = 14;

// packet builds a packet from its first byte and body parts (Uint8Arrays or byte arrays).
function packet(first, ...parts) {
  const body = parts.flatMap((p) => [...p]);
  const len = [];
  let n = body.length;
  do {
    let d = n & 0x7f;
    n >>= 7;
    len.push(n ? d | 0x80 : d);
  } while (n);
  return new Uint8Array([first, ...len, ...body]);
}

const u16 = (n) => [n >> 8, n & 0xff];
const str = (s) => { const b = enc.encode(s); return [...u16(b.length), ...b]; };

export class Client {
  constructor(link, { clientId, keepalive = 60, clean = true, username, password } = {}) {
    Object.assign(this, { link, clientId, keepalive, clean, username, password });
    this.buf = new Uint8Array(0); // inbound bytes not yet parsed
    this.nextId = 0;
    this.waiting = new Map(); // packet id (or "connack", "ping") → resolve
    this.inbound = new Set(); // QoS 2 packet ids received, awaiting PUBREL
    this.onmessage = this.onclose = () => {};
    link.onbytes = (b) => this.receive(b);
    link.onclose = (reason) => this.closed(reason);
  }

  connect() {
    let flags = this.clean ? 0x02 : 0;
    const payload = [...str(this.clientId)];
    if (this.username) { flags |= 0x80; payload.push(...str(this.username)); }
    if (this.password) { flags |= 0x40; payload.push(...str(this.password)); }
    this.link.send(packet(CONNECT << 4, str("MQTT"), [4, flags, ...u16(this.keepalive)], payload));
    return this.wait("connack").then((rc) => {
      if (rc !== 0) throw new Error(`CONNACK return code ${rc}`);
      if (this.keepalive) this.pinger = setInterval(() => this.ping(), this.keepalive * 750);
    });
  }

  subscribe(filter, qos = 0) {
    const id = this.id();
    this.link.send(packet(SUBSCRIBE << 4 | 2, u16(id), str(filter), [qos]));
    return this.wait(id).then(([granted]) => {
      if (granted === 0x80) throw new Error(`subscription to ${filter} refused`);
      return granted;
    });
  }

  unsubscribe(filter) {
    const id = this.id();
    this.link.send(packet(UNSUBSCRIBE << 4 | 2, u16(id), str(filter)));
    return this.wait(id);
  }

  // publish resolves once the broker has the message: at once for QoS 0,
  // on PUBACK for QoS 1, on PUBCOMP for QoS 2.
  publish(topic, payload, { qos = 0, retain = false } = {}) {
    const data = typeof payload === "string" ? enc.encode(payload) : payload;
    const id = qos ? this.id() : 0;
    this.link.send(packet(PUBLISH << 4 | qos << 1 | (retain ? 1 : 0), str(topic), qos ? u16(id) : [], data));
    return qos ? this.wait(id) : Promise.resolve();
  }

  disconnect() {
    this.link.send(packet(DISCONNECT << 4));
    this.link.close();
  }

  ping() {
    if (this.waiting.has("ping")) return this.link.close("keepalive timeout");
    this.link.send(packet(PINGREQ << 4));
    this.wait("ping");
  }

  id() {
    this.nextId = (this.nextId % 0xffff) + 1;
    return this.nextId;
  }

  wait(key) {
    return new Promise((resolve, reject) => this.waiting.set(key, { resolve, reject }));
  }

  settle(key, value) {
    const w = this.waiting.get(key);
    this.waiting.delete(key);
    w?.resolve(value);
  }

  closed(reason) {
    clearInterval(this.pinger);
    for (const w of this.waiting.values()) w.reject(new Error(reason));
    this.waiting.clear();
    this.onclose(reason);
  }

  // receive appends bytes to the stream and handles every whole packet in it.
  receive(bytes) {
    const buf = new Uint8Array(this.buf.length + bytes.length);
    buf.set(this.buf);
    buf.set(bytes, this.buf.length);
    let off = 0;
    while (off < buf.length) {
      // The remaining length: up to four bytes of seven bits, low first.
      let len = 0, i = off + 1, shift = 0, done = false;
      for (; i < buf.length && i < off + 5; i++, shift += 7) {
        len |= (buf[i] & 0x7f) << shift;
        if (!(buf[i] & 0x80)) { done = true; break; }
      }
      if (!done && i === off + 5) return this.link.close("malformed packet");
      if (!done || i + 1 + len > buf.length) break; // the rest has not arrived yet
      this.handle(buf[off], buf.subarray(i + 1, i + 1 + len));
      off = i + 1 + len;
    }
    this.buf = buf.slice(off);
  }

  handle(first, body) {
    const id = body.length >= 2 ? body[0] << 8 | body[1] : 0;
    switch (first >> 4) {
      case CONNACK: return this.settle("connack", body[1]);
      case PUBLISH: return this.incoming(first, body);
      case PUBACK: case PUBCOMP: return this.settle(id);
      case PUBREC: return this.link.send(packet(PUBREL << 4 | 2, u16(id)));
      case PUBREL:
        this.inbound.delete(id);
        return this.link.send(packet(PUBCOMP << 4, u16(id)));
      case SUBACK: return this.settle(id, [...body.subarray(2)]);
      case UNSUBACK: return this.settle(id);
      case PINGRESP: return this.settle("ping");
    }
  }

  incoming(first, body) {
    const qos = (first >> 1) & 3, retain = !!(first & 1), dup = !!(first & 8);
    const tlen = body[0] << 8 | body[1];
    const topic = new TextDecoder().decode(body.subarray(2, 2 + tlen));
    let off = 2 + tlen, id = 0;
    if (qos) { id = body[off] << 8 | body[off + 1]; off += 2; }
    const payload = body.slice(off);
    if (qos === 1) this.link.send(packet(PUBACK << 4, u16(id)));
    if (qos === 2) {
      this.link.send(packet(PUBREC << 4, u16(id)));
      if (this.inbound.has(id)) return; // a resend: delivered already
      this.inbound.add(id);
    }
    this.onmessage(topic, payload, { qos, retain, dup });
  }
}
