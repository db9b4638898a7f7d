// The page: connect, subscribe, publish, and watch messages arrive.
// Query parameters preset the form (transport, client, sub, topic, payload,
// qos, retain); auto=1 then connects, subscribes and publishes by itself,
// which is how a headless browser test drives it.

import { Client } from "./mqtt.js";
import { socketIOLink, webSocketLink } from "./links.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const transports = { "sio-auto": ["polling", "websocket"], "sio-polling": ["polling"], "sio-ws": ["websocket"] };
const utf8 = new TextDecoder("utf-8", { fatal: true });
let client = null;
let received = 0;

function status(state, text) {
  document.body.dataset.state = state;
  $("status").textContent = text;
}

function connected(on) {
  $("connect").textContent = on ? "Disconnect" : "Connect";
  for (const id of ["subscribe", "publish"]) $(id).disabled = !on;
  $("transport").disabled = $("client-id").disabled = on;
}

async function connect() {
  const mode = $("transport").value;
  status("connecting", "Connecting…");
  $("connect").disabled = true;
  try {
    const show = (link) => client && status("connected", `Connected over ${link.transport}`);
    const link = mode === "mqtt-ws" ? await webSocketLink() : await socketIOLink(transports[mode], show);
    client = new Client(link, { clientId: $("client-id").value, keepalive: 30 });
    client.onmessage = showMessage;
    client.onclose = (reason) => {
      client = null;
      connected(false);
      $("subscriptions").replaceChildren();
      status("disconnected", `Disconnected: ${reason}`);
    };
    await client.connect();
    connected(true);
    show(link);
  } catch (e) {
    client = null;
    status("error", `Could not connect: ${e.message}`);
  } finally {
    $("connect").disabled = false;
  }
}

async function subscribe(filter, qos) {
  const granted = await client.subscribe(filter, qos);
  const li = document.createElement("li");
  li.innerHTML = `<code></code><span class="badge">QoS ${granted}</span><button title="Unsubscribe">×</button>`;
  li.querySelector("code").textContent = filter;
  li.querySelector("button").onclick = async () => {
    await client.unsubscribe(filter);
    li.remove();
  };
  $("subscriptions").append(li);
}

function showMessage(topic, payload, { qos, retain }) {
  let text, cls = "";
  try {
    text = utf8.decode(payload);
  } catch {
    text = [...payload].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    cls = "hex";
  }
  const li = document.createElement("li");
  li.innerHTML = `<div class="meta"><code class="topic"></code><span class="badge">QoS ${qos}</span>` +
    (retain ? `<span class="badge retain">retained</span>` : "") + `<time></time></div><pre class="${cls}"></pre>`;
  li.querySelector(".topic").textContent = topic;
  li.querySelector("time").textContent = new Date().toLocaleTimeString();
  li.querySelector("pre").textContent = text;
  const list = $("messages");
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
  document.body.dataset.received = ++received;
  $("count").textContent = received;
}

$("connect").onclick = () => (client ? client.disconnect() : connect());
$("sub-form").onsubmit = (e) => {
  e.preventDefault();
  subscribe($("filter").value, Number($("sub-qos").value)).catch((err) => status("error", err.message));
};
$("pub-form").onsubmit = (e) => {
  e.preventDefault();
  client.publish($("topic").value, $("payload").value, { qos: Number($("pub-qos").value), retain: $("retain").checked })
    .catch((err) => status("error", err.message));
};
$("clear").onclick = () => $("messages").replaceChildren();

// Preset the form from the query, then maybe run by itself.
$("client-id").value = params.get("client") ?? "mqttio-" + Math.random().toString(36).slice(2, 8);
const presets = [["transport", "transport"], ["sub", "filter"], ["topic", "topic"], ["payload", "payload"], ["qos", "pub-qos"], ["qos", "sub-qos"]];
for (const [param, id] of presets) {
  if (params.has(param)) $(id).value = params.get(param);
}
$("retain").checked = params.get("retain") === "1";
connected(false);
if (params.get("auto") === "1") {
  await connect();
  if (client) {
    await subscribe($("filter").value, Number($("sub-qos").value));
    $("pub-form").requestSubmit();
  }
}
