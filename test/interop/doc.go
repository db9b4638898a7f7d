// Package interop tests the real mqttio binary against MQTT clients nobody
// here wrote: mosquitto_pub/mosquitto_sub (Debian mosquitto-clients),
// Eclipse Paho for Python (python3-paho-mqtt) and MQTT.js (node-mqtt), and
// checks that acknowledged messages survive a SIGKILL of the broker and that
// SIGINT shuts it down cleanly.
//
// TestMain builds cmd/mqttio once; every test starts its own broker process
// on an ephemeral loopback port (the broker binds 127.0.0.1:0 and the test
// reads the bound address from its JSON log) with its own data directory.
// The clients run as child processes; the Python and Node.js clients are
// thin scripts in testdata/ that print what they see as JSON lines. Tests
// wait by reading with timeouts, never by sleeping, and every process they
// start is killed in t.Cleanup.
//
// Nothing here is skipped: a missing client fails the test with the name of
// the Debian package to install. The tests need mosquitto-clients,
// python3-paho-mqtt (run with /usr/bin/python3, not whatever python3 comes
// first on PATH), node-mqtt and nodejs (run with NODE_PATH=/usr/share/nodejs,
// so a node that is not Debian's finds the Debian modules), and stdbuf from
// coreutils. Run them without -race (the broker is a separate process):
//
//	go test ./test/interop/
package interop
