// mqttio dashboard: polls the admin API and draws its own SVG charts.
// No framework, no build step. Client data (ids, usernames) comes from
// MQTT clients, so it only ever goes into the page as text (textContent),
// never as HTML.
"use strict";

const POLL_MS = 1000;      // /api/v1/node
const CLIENTS_MS = 5000;   // /api/v1/clients
const POINTS = 300;        // five minutes of history

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("mqttio-token") || "", history: [], last: null, timer: null, clientsTimer: null };

function setStatus(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(method, path) {
  const res = await fetch(path, { method, headers: { Authorization: "Bearer " + state.token }, cache: "no-store" });
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const msg = body && body.error ? body.error : res.status + " " + res.statusText;
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return body;
}

function fmt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  return m + "m " + (s % 60) + "s";
}

async function pollNode() {
  try {
    const n = await api("GET", "api/v1/node");
    const t = Date.parse(n.time) / 1000;
    let rin = null, rout = null;
    if (state.last && t > state.last.t) {
      const dt = t - state.last.t;
      rin = Math.max(0, (n.stats.messages_in - state.last.in) / dt);
      rout = Math.max(0, (n.stats.messages_out - state.last.out) / dt);
    }
    state.last = { t, in: n.stats.messages_in, out: n.stats.messages_out };
    state.history.push({ t, conn: n.stats.connections, rin, rout });
    if (state.history.length > POINTS) state.history.shift();

    $("node").textContent = n.id + " · " + n.version;
    $("v-conn").textContent = fmt(n.stats.connections);
    $("v-sess").textContent = fmt(n.stats.sessions);
    $("v-subs").textContent = fmt(n.stats.subscriptions);
    $("v-ret").textContent = fmt(n.stats.retained);
    $("v-in").textContent = fmt(rin);
    $("v-out").textContent = fmt(rout);
    $("v-drop").textContent = fmt(n.stats.dropped);
    $("v-up").textContent = duration(n.uptime_seconds);
    setStatus("Live · updated " + new Date().toLocaleTimeString());
    draw($("chart-conn"), [{ key: "conn", cls: "in" }]);
    draw($("chart-msg"), [{ key: "rin", cls: "in" }, { key: "rout", cls: "out" }]);
  } catch (e) {
    fail(e);
  }
}

function fail(e) {
  if (e.status === 401) {
    setStatus("The token was refused (401). Enter the admin token.", true);
    stop();
  } else if (e.status === 404) {
    setStatus("The admin API is disabled on this node: set admin.token. " + e.message, true);
    stop();
  } else {
    setStatus("Cannot reach the node: " + e.message, true);
  }
}

const SVG = "http://www.w3.org/2000/svg";
function el(name, attrs) {
  const e = document.createElementNS(SVG, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}

// draw renders series of state.history into an SVG with a 600x160 viewBox.
function draw(svg, series) {
  const W = 600, H = 160, L = 40, B = 16, T = 6;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const h = state.history;
  let max = 0;
  for (const p of h) for (const s of series) if (p[s.key] !== null) max = Math.max(max, p[s.key]);
  max = niceMax(max);
  for (let i = 0; i <= 4; i++) {
    const y = T + (H - T - B) * i / 4;
    svg.appendChild(el("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" }));
    const label = el("text", { x: L - 4, y: y + 4, "text-anchor": "end", class: "axis" });
    label.textContent = fmt(max * (4 - i) / 4);
    svg.appendChild(label);
  }
  const x = (i) => L + (W - L) * (POINTS - h.length + i) / (POINTS - 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (const s of series) {
    const pts = [];
    h.forEach((p, i) => { if (p[s.key] !== null) pts.push(x(i).toFixed(1) + "," + y(p[s.key]).toFixed(1)); });
    if (pts.length > 1) svg.appendChild(el("polyline", { points: pts.join(" "), class: "line " + s.cls }));
  }
  const note = el("text", { x: W, y: H - 2, "text-anchor": "end", class: "axis" });
  note.textContent = "last " + Math.round(POINTS * POLL_MS / 60000) + " min";
  svg.appendChild(note);
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

async function pollClients() {
  const q = $("search").value.trim();
  try {
    const list = await api("GET", "api/v1/clients?limit=200" + (q ? "&search=" + encodeURIComponent(q) : ""));
    const body = $("clients");
    while (body.firstChild) body.removeChild(body.firstChild);
    for (const c of list.items) {
      const tr = document.createElement("tr");
      const cells = [c.client_id, c.username || c.common_name || "", c.remote_addr, c.transport, c.protocol,
        new Date(c.connected_at).toLocaleString(), String(c.subscriptions), String(c.queued)];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (i === 0) td.className = "id";
        tr.appendChild(td);
      });
      const td = document.createElement("td");
      const kick = document.createElement("button");
      kick.textContent = "Disconnect";
      kick.addEventListener("click", async () => {
        if (!confirm("Disconnect " + c.client_id + "?")) return;
        try {
          await api("DELETE", "api/v1/clients/" + encodeURIComponent(c.client_id));
          pollClients();
        } catch (e) { fail(e); }
      });
      td.appendChild(kick);
      tr.appendChild(td);
      body.appendChild(tr);
    }
    $("clients-note").textContent = list.truncated ? "Showing the first " + list.count + " clients; search to narrow." : list.count + " clients.";
  } catch (e) {
    fail(e);
  }
}

function start() {
  stop();
  if (!state.token) return;
  state.history = [];
  state.last = null;
  pollNode();
  pollClients();
  state.timer = setInterval(pollNode, POLL_MS);
  state.clientsTimer = setInterval(pollClients, CLIENTS_MS);
}

function stop() {
  clearInterval(state.timer);
  clearInterval(state.clientsTimer);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = state.token;
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("mqttio-token", state.token);
    start();
  });
  $("logout").addEventListener("click", () => {
    stop();
    state.token = "";
    $("token").value = "";
    sessionStorage.removeItem("mqttio-token");
    setStatus("Token forgotten.");
  });
  let searchTimer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(pollClients, 300);
  });
  start();
});
