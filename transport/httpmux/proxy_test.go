//go:build proxy

// MQTT.IO behind a proxy that refuses WebSocket (Debian nginx, configured
// without upgrade support): Socket.IO falls back to long-polling and MQTT
// still flows end to end, while plain MQTT over WebSocket is refused. Opt-in
// with the build tag, since it needs nginx on the machine:
//
//	go test -tags proxy -run Proxy ./transport/httpmux/
package httpmux

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
	"github.com/mqttio/mqttio/transport/internal/mqttfake"
)

func TestProxyWithoutUpgrade(t *testing.T) {
	mux := New(Options{EngineIO: engineio.Options{PingInterval: 2 * time.Second, PingTimeout: 5 * time.Second}})
	broker := mqttfake.New()
	for _, l := range mux.Listeners() {
		go broker.Serve(l)
	}
	backend := httptest.NewServer(mux)
	t.Cleanup(func() { mux.Close(); backend.Close() })
	proxy := startNginx(t, strings.TrimPrefix(backend.URL, "http://"))

	// The same python3-socketio client as the socketio tests: asked for
	// polling then websocket, it stays on polling and MQTT works.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "../socketio/testdata/mqttio_client.py", proxy, "polling,websocket").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "transport=polling\nOK\n") {
		t.Fatalf("MQTT.IO through the proxy: %v\n%s", err, out)
	}
	// Plain MQTT over WebSocket is refused by the same proxy.
	_, resp, err := websocket.DefaultDialer.Dial(eiotest.WSURL(proxy)+"/mqtt", nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("MQTT over WebSocket through the proxy: %v %v", err, resp)
	}
	// And so is the Socket.IO websocket transport.
	if r := eiotest.Get(t, proxy+"/socket.io/?EIO=4&transport=websocket"); r.Status != 400 {
		t.Fatalf("Socket.IO websocket through the proxy: %d %s", r.Status, r.Body)
	}
}

// startNginx runs nginx in the foreground in front of backend and returns
// its base URL.
func startNginx(t *testing.T, backend string) string {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close() // nginx binds it next; a race with another process is unlikely
	tmpl, err := os.ReadFile("testdata/nginx-no-upgrade.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", port, "{{BACKEND}}", backend).Replace(string(tmpl))
	path := filepath.Join(dir, "nginx.conf")
	os.WriteFile(path, []byte(conf), 0o644)
	cmd := exec.Command("nginx", "-p", dir, "-c", path, "-g", "daemon off;")
	if out, err := exec.Command("nginx", "-t", "-p", dir, "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("nginx: %v", err)
	}
	// SIGTERM, not SIGKILL: the master must live to stop its workers.
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	base := "http://127.0.0.1:" + port
	eiotest.WaitFor(t, 10*time.Second, "nginx to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return base
}
