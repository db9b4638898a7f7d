// Package mqttio tests the HTTP transports end to end with the real broker:
// the broker core (broker.New) runs in-process behind the one HTTP mux
// (transport/httpmux), exactly as cmd/mqttio wires a node, plus a TCP
// listener for cross-transport checks. The clients are the ones nobody here
// wrote, run as child processes, and small raw Go clients where the test
// needs every byte or a misbehaving peer:
//
//   - Debian python3-socketio over polling, websocket and the upgrade
//     (testdata/sio_pipe.py turns it into a byte pipe, so the Go side speaks
//     raw MQTT through it with broker/mqtttest);
//   - Debian python3-paho-mqtt over MQTT-over-WebSocket (testdata/paho_ws.py);
//   - Debian nginx configured without upgrade support, in front of the node;
//   - Debian chromium, headless, driving the browser page at /.
//
// The MQTT keepalive and the Engine.IO heartbeat are checked to be
// independent, each closing a dead client with its will and its session
// kept as on TCP. BenchmarkQoS0Throughput compares TCP, MQTT over WebSocket
// and Socket.IO over websocket.
//
// Nothing is skipped: a missing program fails its test with the Debian
// package to install (scripts/install-deps.sh installs them all). Every
// child process is stopped in t.Cleanup, and killed by the kernel if the
// test binary dies first. Tests wait by reading with deadlines or polling,
// never by sleeping.
//
//	go test ./test/mqttio/
//	go test -run '^$' -bench QoS0Throughput ./test/mqttio/
//	MQTTIO_ARTIFACTS=/tmp/shots go test -run BrowserPage ./test/mqttio/
package mqttio
