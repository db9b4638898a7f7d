// A minimal Socket.IO v5 client for one namespace, on top of eio.js: connect,
// events with binary arguments (sent as attachments), disconnect. No acks,
// no reconnection: MQTT.IO needs neither.
//
//   const sock = new Socket(engine, "/mqtt");
//   sock.onconnect = () => sock.emit("message", bytes);
//   sock.onevent = (name, args) => …;  sock.onclose = (reason) => …;

const CONNECT = "0", DISCONNECT = "1", EVENT = "2", CONNECT_ERROR = "4", BINARY_EVENT = "5";

export class Socket {
  constructor(engine, nsp) {
    this.engine = engine;
    this.nsp = nsp;
    this.pending = null; // a binary event waiting for its attachments
    this.onconnect = this.onevent = this.onclose = () => {};
    engine.onopen = () => engine.send(CONNECT + nsp + ",");
    engine.onmessage = (data) => this.receive(data);
    engine.onclose = (reason) => this.onclose(reason);
  }

  // emit sends an event; Uint8Array arguments travel as binary attachments.
  emit(name, ...args) {
    const bins = [];
    const json = JSON.stringify([name, ...args.map((a) =>
      a instanceof Uint8Array ? { _placeholder: true, num: bins.push(a) - 1 } : a)]);
    const head = bins.length ? BINARY_EVENT + bins.length + "-" : EVENT;
    this.engine.send(head + this.nsp + "," + json);
    for (const b of bins) this.engine.send(b);
  }

  close() {
    this.engine.send(DISCONNECT + this.nsp + ",");
    this.engine.close();
  }

  receive(data) {
    if (typeof data !== "string") {
      if (!this.pending) return this.engine.close("unexpected binary");
      this.pending.bins.push(data);
      if (this.pending.bins.length === this.pending.count) {
        const { args, bins } = this.pending;
        this.pending = null;
        this.dispatch(args.map((a) => (a && a._placeholder ? bins[a.num] : a)));
      }
      return;
    }
    // <type>[<attachments>-][<nsp>,][<ack id>][JSON]
    const m = /^(\d)(?:(\d+)-)?(\/[^,]*)?,?\d*(.*)$/s.exec(data);
    if (!m) return this.engine.close("malformed packet");
    const [, type, count, nsp = "/", json] = m;
    if (nsp !== this.nsp) return;
    const payload = json ? JSON.parse(json) : undefined;
    switch (type) {
      case CONNECT: return this.onconnect(payload);
      case CONNECT_ERROR: return this.engine.close(payload?.message ?? payload ?? "refused");
      case DISCONNECT: return this.engine.close("server disconnect");
      case EVENT: return this.dispatch(payload);
      case BINARY_EVENT: this.pending = { count: Number(count), args: payload, bins: [] };
    }
  }

  dispatch([name, ...args]) {
    this.onevent(name, args);
  }
}
