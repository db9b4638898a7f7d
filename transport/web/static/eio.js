// A minimal Engine.IO v4 client: HTTP long-polling, WebSocket, and the
// upgrade from the first to the second (probe "2probe"/"3probe", pause
// polling, "5"). Messages are strings or Uint8Arrays.
//
//   const eng = new Engine("/socket.io/", { transports: ["polling", "websocket"] });
//   eng.onopen = () => eng.send("hello");
//   eng.onmessage = (data) => …;  eng.onclose = (reason) => …;
//   eng.open();

const SEP = "\x1e"; // between packets in a polling body

export function toBase64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(text) {
  const s = atob(text);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

// A packet is { type: "0".."6", data: string | Uint8Array }.
function decodePolling(body) {
  return body.split(SEP).map((p) =>
    p[0] === "b" ? { type: "4", data: fromBase64(p.slice(1)) } : { type: p[0], data: p.slice(1) });
}

function encodePolling(packets) {
  return packets.map((p) => (typeof p.data === "string" ? p.type + p.data : "b" + toBase64(p.data))).join(SEP);
}

export class Engine {
  constructor(path, { transports = ["polling", "websocket"] } = {}) {
    this.base = new URL(path, location.href);
    this.transports = transports;
    this.transport = null; // "polling" | "websocket"
    this.state = "closed"; // "opening" | "open" | "closed"
    this.sid = null;
    this.buffer = []; // packets waiting to be written
    this.posting = null; // the POST in flight (a promise)
    this.polling = null; // the GET in flight
    this.paused = false; // polling stops during an upgrade
    this.ws = null;
    this.onopen = this.onmessage = this.onclose = this.ontransport = () => {};
  }

  url(transport) {
    const u = new URL(this.base);
    if (transport === "websocket") u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("EIO", "4");
    u.searchParams.set("transport", transport);
    if (this.sid) u.searchParams.set("sid", this.sid);
    if (transport === "polling") u.searchParams.set("t", Date.now().toString(36));
    return u;
  }

  open() {
    this.state = "opening";
    if (this.transports[0] === "websocket") this.useWebSocket(new WebSocket(this.url("websocket")));
    else this.poll();
  }

  send(data) {
    this.write({ type: "4", data });
  }

  close(reason = "client close") {
    if (this.state === "closed") return;
    if (this.state === "open") this.write({ type: "1", data: "" });
    this.finish(reason);
  }

  finish(reason) {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.pingTimer);
    if (this.ws) this.ws.close();
    this.onclose(reason);
  }

  write(packet) {
    this.buffer.push(packet);
    this.flush();
  }

  flush() {
    if (!this.buffer.length || this.state === "closed") return;
    if (this.transport === "websocket") {
      for (const p of this.buffer.splice(0)) this.ws.send(typeof p.data === "string" ? p.type + p.data : p.data);
    } else if (this.transport === "polling" && !this.posting && !this.paused) {
      const body = encodePolling(this.buffer.splice(0));
      this.posting = fetch(this.url("polling"), { method: "POST", body, headers: { "Content-Type": "text/plain;charset=UTF-8" } })
        .then((r) => { if (!r.ok) throw new Error(`POST ${r.status}`); })
        .catch((e) => this.finish(e.message))
        .finally(() => { this.posting = null; this.flush(); });
    }
  }

  // The server pings every pingInterval; silence past pingTimeout more means it is gone.
  heartbeat() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.finish("ping timeout"), this.pingInterval + this.pingTimeout);
  }

  onPacket({ type, data }) {
    switch (type) {
      case "0": {
        const open = JSON.parse(data);
        Object.assign(this, { sid: open.sid, pingInterval: open.pingInterval, pingTimeout: open.pingTimeout });
        this.state = "open";
        this.heartbeat();
        this.onopen();
        if (this.transport === "polling" && open.upgrades.includes("websocket") && this.transports.includes("websocket")) this.upgrade();
        break;
      }
      case "1": return this.finish("server close");
      case "2": this.heartbeat(); return this.write({ type: "3", data: "" });
      case "4": return this.onmessage(data);
    }
  }

  async poll() {
    this.transport = "polling";
    this.ontransport();
    while (this.state !== "closed" && this.transport === "polling" && !this.paused) {
      this.polling = fetch(this.url("polling"), { cache: "no-store" }).then(async (r) => {
        if (!r.ok) throw new Error(`GET ${r.status}`);
        return decodePolling(await r.text());
      });
      try {
        for (const p of await this.polling) this.onPacket(p);
      } catch (e) {
        return this.finish(e.message);
      } finally {
        this.polling = null;
      }
    }
  }

  // Probe a websocket; once it answers, let the held GET and the POST
  // finish (the server ends the GET with a noop), then switch.
  upgrade() {
    const ws = new WebSocket(this.url("websocket"));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => ws.send("2probe");
    ws.onerror = () => ws.close();
    ws.onmessage = async (e) => {
      if (e.data !== "3probe") return ws.close();
      this.paused = true;
      await Promise.allSettled([this.polling, this.posting]);
      if (this.state === "closed") return ws.close();
      ws.send("5");
      this.useWebSocket(ws);
      this.flush();
    };
  }

  useWebSocket(ws) {
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.transport = "websocket";
    this.ontransport();
    ws.onmessage = (e) => this.onPacket(typeof e.data === "string"
      ? { type: e.data[0], data: e.data.slice(1) }
      : { type: "4", data: new Uint8Array(e.data) });
    ws.onclose = () => this.finish("transport close");
    ws.onerror = () => this.finish("transport error");
  }
}
