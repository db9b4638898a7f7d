package broker_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// $SYS/broker/... topics are published every SysInterval, retained, and
// follow the counters.
func TestSysTopics(t *testing.T) {
	_, addr := start(t, broker.Options{SysInterval: 50 * time.Millisecond, Version: "1.2.3"})
	s, _ := client(t, addr, packet.V311, "s", true)
	s.Subscribe(1, 0, "$SYS/broker/#")
	want := []string{"version", "uptime", "clients/connected", "clients/total", "messages/received", "messages/sent",
		"bytes/received", "bytes/sent", "subscriptions/count", "retained messages/count"}
	seen := map[string]string{}
	missing := func() bool {
		for _, w := range want {
			if _, ok := seen[w]; !ok {
				return true
			}
		}
		return false
	}
	for missing() {
		m := mqtttest.Expect[*packet.Publish](s)
		seen[strings.TrimPrefix(string(m.Topic), "$SYS/broker/")] = string(m.Payload)
	}
	if !strings.Contains(seen["version"], "1.2.3") {
		t.Errorf("version %q", seen["version"])
	}
	// Updated on the interval: connected clients goes to 2.
	client(t, addr, packet.V311, "other", true)
	for {
		m := mqtttest.Expect[*packet.Publish](s)
		if string(m.Topic) == "$SYS/broker/clients/connected" {
			if n, _ := strconv.Atoi(string(m.Payload)); n == 2 {
				break
			}
		}
	}
	// '#' does not match $SYS [MQTT-4.7.2-1].
	h, _ := client(t, addr, packet.V311, "h", true)
	h.Subscribe(1, 0, "#")
	h.ExpectNothing(150 * time.Millisecond)
}
