package mqttio

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// The browser page at / in headless Chromium (Debian chromium), driven over
// the DevTools protocol, with the real broker: the page connects over each
// transport, subscribes, publishes and shows its own message; a TCP client
// sees the page's message and sends one the page shows too. Behind the
// proxy that refuses WebSocket, the automatic mode stays on polling. A
// screenshot of each run goes to $MQTTIO_ARTIFACTS (default: a temporary
// directory of the test):
//
//	MQTTIO_ARTIFACTS=/tmp/shots go test -run BrowserPage ./test/mqttio/
func TestBrowserPage(t *testing.T) {
	t.Parallel()
	n := startNode(t, nodeOptions{})
	proxy := startNginx(t, n.host)
	shots := os.Getenv("MQTTIO_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	cdp := startChromium(t)
	cdp.call(t, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})

	for _, tc := range []struct{ mode, base, shows string }{
		{"sio-polling", n.url, "Socket.IO polling"},
		{"sio-ws", n.url, "Socket.IO websocket"},
		{"sio-auto", n.url, "Socket.IO websocket"},
		{"mqtt-ws", n.url, "WebSocket"},
		{"sio-auto-behind-proxy", proxy, "Socket.IO polling"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			mode, _, _ := strings.Cut(tc.mode, "-behind")
			topic, payload := "mqttio/"+tc.mode, "Hello from the browser over "+tc.shows+"!"
			tcp := mqtttest.Dial(t, n.tcp, packet.V311)
			tcp.Connect(&packet.Connect{ClientID: []byte("tcp-" + tc.mode), CleanStart: true})
			tcp.Subscribe(1, 2, topic)
			q := url.Values{"transport": {mode}, "auto": {"1"}, "client": {"page-" + tc.mode},
				"topic": {topic}, "payload": {payload}, "qos": {"2"}}
			cdp.call(t, "Page.navigate", map[string]any{"url": tc.base + "/?" + q.Encode()})
			page := waitPage(t, cdp, "1")
			if page.Status != "Connected over "+tc.shows || page.Top != payload {
				t.Fatalf("page shows %+v", page)
			}
			// The page's QoS 2 publish reached the broker's other clients.
			m := tcp.ExpectPublish(topic, payload)
			if m.QoS != 2 {
				t.Fatalf("TCP got %s", mqtttest.Describe(m))
			}
			tcp.Ack(m)
			// And a TCP client's message reaches the page.
			tcp.Publish("mqttio/from-tcp", 1, false, "Hello browser, this is a TCP client.", 7)
			if page := waitPage(t, cdp, "2"); page.Top != "Hello browser, this is a TCP client." {
				t.Fatalf("page shows %+v", page)
			}
			var shot struct{ Data string }
			cdp.call(t, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
			png, err := base64.StdEncoding.DecodeString(shot.Data)
			if err != nil || len(png) == 0 {
				t.Fatalf("screenshot: %v", err)
			}
			path := filepath.Join(shots, tc.mode+".png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
		})
	}
}

// pageState is what the page shows: messages received, the status line,
// and the newest message.
type pageState struct{ Received, Status, Top string }

// waitPage waits until the page has received the given number of messages.
func waitPage(t *testing.T, cdp *devtools, received string) pageState {
	t.Helper()
	var st pageState
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		raw := cdp.eval(t, `JSON.stringify({Received: document.body.dataset.received ?? "",
			Status: document.getElementById("status").textContent,
			Top: document.querySelector("#messages pre")?.textContent ?? ""})`)
		json.Unmarshal([]byte(raw), &st)
		if st.Received == received {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("page did not show message %s within %v: %+v", received, waitTimeout, st)
		}
		<-tick.C
	}
}

// devtools is a DevTools protocol session with Chromium's page.
type devtools struct {
	ws *websocket.Conn
	id int
}

// startChromium runs headless Chromium (its own process group, stopped
// with the test) and attaches to its page.
func startChromium(t *testing.T) *devtools {
	t.Helper()
	chromium := need(t, "chromium", "chromium")
	dir := t.TempDir()
	p := startProcGroup(t, true, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir="+dir,
		"--window-size=1280,860", "about:blank")
	var endpoint string // ws://127.0.0.1:port/devtools/browser/… once listening
	tm := time.NewTimer(waitTimeout)
	defer tm.Stop()
	for endpoint == "" {
		select {
		case l, ok := <-p.errLines:
			if !ok {
				t.Fatalf("chromium exited: %s\n%s", p.status(), p.errs)
			}
			_, endpoint, _ = strings.Cut(l, "DevTools listening on ")
		case <-tm.C:
			t.Fatalf("chromium printed no DevTools endpoint within %v:\n%s", waitTimeout, p.errs)
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatalf("DevTools endpoint %q: %v", endpoint, err)
	}
	resp, err := http.Get("http://" + u.Host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []struct{ Type, WebSocketDebuggerURL string }
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		t.Fatalf("DevTools targets: %v", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" {
			ws, _, err := websocket.DefaultDialer.Dial(tg.WebSocketDebuggerURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ws.Close() })
			return &devtools{ws: ws}
		}
	}
	t.Fatalf("no page target: %+v", targets)
	return nil
}

// call sends one DevTools command and decodes its result into out.
func (d *devtools) call(t *testing.T, method string, params any, out ...any) {
	t.Helper()
	d.id++
	if err := d.ws.WriteJSON(map[string]any{"id": d.id, "method": method, "params": params}); err != nil {
		t.Fatal(err)
	}
	for {
		var msg struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
		}
		d.ws.SetReadDeadline(time.Now().Add(waitTimeout))
		if err := d.ws.ReadJSON(&msg); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if msg.ID != d.id {
			continue // an event
		}
		if msg.Error != nil {
			t.Fatalf("%s: %s", method, msg.Error.Message)
		}
		if len(out) > 0 {
			if err := json.Unmarshal(msg.Result, out[0]); err != nil {
				t.Fatalf("%s: %v", method, err)
			}
		}
		return
	}
}

// eval evaluates a JavaScript expression in the page and returns its
// value as a string.
func (d *devtools) eval(t *testing.T, expr string) string {
	var r struct{ Result struct{ Value any } }
	d.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	s, _ := r.Result.Value.(string)
	return s
}
