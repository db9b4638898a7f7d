//go:build browser

// The browser page in headless Chromium (Debian package chromium), driven
// over the DevTools protocol: load the page, let it connect over each
// transport, subscribe, publish, and see the message on the page; a
// screenshot of each run is kept as a test artifact. Opt-in with the build
// tag, since it needs Chromium on the machine:
//
//	go test -tags browser -run Browser -artifacts -outputdir /tmp/shots ./transport/httpmux/
package httpmux

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
	"github.com/mqttio/mqttio/transport/internal/mqttfake"
)

func TestBrowserPage(t *testing.T) {
	mux := New(Options{})
	broker := mqttfake.New()
	for _, l := range mux.Listeners() {
		go broker.Serve(l)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { mux.Close(); ts.Close() })
	cdp := startChromium(t)
	for _, tr := range []struct{ mode, shows string }{
		{"sio-polling", "Socket.IO polling"},
		{"sio-ws", "Socket.IO websocket"},
		{"sio-auto", "Socket.IO websocket"},
		{"mqtt-ws", "WebSocket"},
	} {
		t.Run(tr.mode, func(t *testing.T) {
			payload := "hello over " + tr.mode
			q := url.Values{"transport": {tr.mode}, "auto": {"1"}, "payload": {payload}, "qos": {"2"}}
			cdp.call(t, "Page.navigate", map[string]any{"url": ts.URL + "/?" + q.Encode()})
			var state string
			eiotest.WaitFor(t, 15*time.Second, "the message on the page", func() bool {
				state = cdp.eval(t, `document.body.dataset.received + "|" + document.getElementById("status").textContent + "|" +
					(document.querySelector("#messages pre")?.textContent ?? "")`)
				return strings.HasPrefix(state, "1|")
			})
			if !strings.Contains(state, "Connected over "+tr.shows) || !strings.HasSuffix(state, "|"+payload) {
				t.Fatalf("page shows %q", state)
			}
			var shot struct{ Data string }
			cdp.call(t, "Page.captureScreenshot", nil, &shot)
			png, _ := base64.StdEncoding.DecodeString(shot.Data)
			if err := os.WriteFile(filepath.Join(t.ArtifactDir(), tr.mode+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

type devtools struct {
	ws *websocket.Conn
	id int
}

// startChromium runs headless Chromium and attaches to its page.
func startChromium(t *testing.T) *devtools {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--remote-debugging-port=0", "--user-data-dir="+dir, "--window-size=1200,800", "about:blank")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) } // let it take its children down
	cmd.WaitDelay = 5 * time.Second
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	var endpoint string // "ws://127.0.0.1:port/devtools/browser/…" once listening
	for sc := bufio.NewScanner(stderr); endpoint == "" && sc.Scan(); {
		if _, after, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
			endpoint = after
		}
	}
	go func() { bufio.NewScanner(stderr).Scan() }()
	u, err := url.Parse(endpoint)
	if err != nil || endpoint == "" {
		t.Fatalf("no DevTools endpoint from chromium")
	}
	resp, err := http.Get("http://" + u.Host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var targets []struct{ Type, WebSocketDebuggerURL string }
	json.NewDecoder(resp.Body).Decode(&targets)
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
		d.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
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
			json.Unmarshal(msg.Result, out[0])
		}
		return
	}
}

func (d *devtools) eval(t *testing.T, expr string) string {
	var r struct{ Result struct{ Value any } }
	d.call(t, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	s, _ := r.Result.Value.(string)
	return s
}
