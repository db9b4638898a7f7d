package mqttio

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// The reason MQTT.IO exists: behind a proxy that refuses WebSocket (Debian
// nginx, configured without upgrade support), Socket.IO falls back to
// long-polling and MQTT flows end to end with the real broker, will
// included, while plain MQTT over WebSocket is refused.
func TestProxyWithoutUpgrade(t *testing.T) {
	t.Parallel()
	n := startNode(t, nodeOptions{EngineIO: fastHeartbeat})
	proxy := startNginx(t, n.host)

	tcp := mqtttest.Dial(t, n.tcp, packet.V311)
	tcp.Connect(&packet.Connect{ClientID: []byte("tcp"), CleanStart: true})
	tcp.Subscribe(1, 2, "proxy/up", "will/#")

	// python3-socketio asked for polling then websocket: the upgrade fails
	// at the proxy and the client stays on polling.
	pipe, tr := startSIOPipe(t, proxy, "polling,websocket")
	if tr != "polling" {
		t.Fatalf("connected over %s through the proxy", tr)
	}
	c := mqtttest.Wrap(t, pipe, packet.V311)
	c.Connect(&packet.Connect{ClientID: []byte("behind-proxy"), CleanStart: true, KeepAlive: 60,
		WillFlag: true, WillTopic: []byte("will/behind-proxy"), WillPayload: []byte("gone"), WillQoS: 1})
	c.Subscribe(2, 2, "proxy/down")
	for qos := range byte(3) {
		payload := fmt.Sprintf("through nginx at QoS %d", qos)
		c.Publish("proxy/up", qos, false, payload, uint16(10+qos))
		tcp.Ack(tcp.ExpectPublish("proxy/up", payload))
		tcp.Publish("proxy/down", qos, false, payload, uint16(20+qos))
		c.Ack(c.ExpectPublish("proxy/down", payload))
	}
	c.ExpectNone()
	if got := pipe.transport(t); got != "polling" {
		t.Fatalf("on %s through the proxy", got)
	}
	if got := n.requestCount("websocket-upgrade"); got == 0 {
		t.Errorf("the client never tried the upgrade (requests %s)", n.requestCounts())
	}
	pipe.p.kill()
	tcp.Ack(tcp.ExpectPublish("will/behind-proxy", "gone"))

	// Plain MQTT over WebSocket is refused by the same proxy, and so is the
	// Socket.IO websocket transport.
	for _, path := range []string{"/mqtt", "/socket.io/?EIO=4&transport=websocket"} {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: waitTimeout}
		ws, resp, err := d.Dial("ws"+strings.TrimPrefix(proxy, "http")+path, nil)
		if err == nil {
			ws.Close()
		}
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("websocket %s through the proxy: %v, %+v; want HTTP 400", path, err, resp)
		}
	}
}

// startNginx runs Debian's nginx in the foreground on a free loopback port,
// proxying to backend without WebSocket upgrades, and returns its base URL.
// Its files live in a temporary directory of the test's own.
func startNginx(t testing.TB, backend string) string {
	t.Helper()
	nginx := need(t, "nginx", "nginx")
	dir := t.TempDir()
	port := freePort(t)
	tmpl, err := os.ReadFile("testdata/nginx-no-upgrade.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", port, "{{BACKEND}}", backend).Replace(string(tmpl))
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")}
	p := startProc(t, nginx, append(args, "-g", "daemon off;")...)
	addr := net.JoinHostPort("127.0.0.1", port)
	mqtttest.Eventually(t, "nginx to listen on "+addr, func() bool {
		if p.exited() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s%s", p.status(), p.errs, log)
		}
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "http://" + addr
}
