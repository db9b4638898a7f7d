package socketio

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A real third-party client: Debian's python3-socketio 5.7.2 (run with the
// system python), over polling only, websocket only, and polling upgraded to
// websocket, speaking MQTT to the fake broker through the server.
func TestPythonSocketIO(t *testing.T) {
	_, base := start(t, quiet())
	url := strings.TrimSuffix(base, "/socket.io/?EIO=")
	for _, tc := range []struct{ transports, ends string }{
		{"polling", "polling"},
		{"websocket", "websocket"},
		{"polling,websocket", "websocket"},
	} {
		t.Run(tc.transports, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/mqttio_client.py", url, tc.transports).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "transport="+tc.ends+"\nOK\n") {
				t.Fatalf("python3-socketio over %s: %v\n%s", tc.transports, err, out)
			}
		})
	}
}
