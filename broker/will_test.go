package broker_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// [MQTT-3.1.2-8]: the will is published when the network connection closes
// without a DISCONNECT.
func TestWillOnAbnormalClose(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		for _, mode := range readModes {
			_, addr := start(t, broker.Options{DisableNetpoll: mode.noNetpoll})
			s, _ := client(t, addr, v, "s", true)
			s.Subscribe(1, 2, "will")
			c, _ := client(t, addr, v, "c", true, withWill("will", "gone", 1, false))
			c.Conn.Close()
			if m := recv(t, s, "will", "gone"); m.QoS != 1 || m.Retain {
				t.Fatalf("%s: will delivered as %s", mode.name, mqtttest.Describe(m))
			}
		}
	})
}

// [MQTT-3.1.2-10]: a will with RETAIN=1 is published as a retained message.
func TestWillRetained(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V311, "c", true, withWill("lwt/c", "offline", 1, true))
	c.Conn.Close()
	mqtttest.Eventually(t, "the retained will", func() bool {
		s, _ := client(t, addr, packet.V311, "s", true)
		s.Subscribe(1, 1, "lwt/c")
		return len(s.Sync()) == 1
	})
}

// [MQTT-3.1.2-24]: a connection silent for 1.5 × keepalive is closed and
// its will published; a v5 client is told 0x8D Keep Alive Timeout.
func TestWillOnKeepAliveExpiry(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 1, vid("ka", v))
		begin := time.Now()
		c, _ := client(t, addr, v, vid("c", v), true, keepAlive(1), withWill(vid("ka", v), "timeout", 0, false))
		c.ExpectDisconnect(packet.KeepAliveTimeout)
		d := time.Since(begin)
		if d < 1400*time.Millisecond || d > 4*time.Second {
			t.Fatalf("closed after %v, want 1.5 s (+ sweep)", d)
		}
		s.ExpectPublish(vid("ka", v), "timeout")
	})
}

// Keepalive is reset by any packet: a client that pings in time stays.
func TestKeepAlivePingKeepsConnection(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{})
	c, _ := client(t, addr, packet.V311, "c", true, keepAlive(1))
	for range 4 {
		c.ExpectNothing(600 * time.Millisecond)
		c.Sync()
	}
}

// [MQTT-3.14.4-3]: a normal DISCONNECT discards the will; v5 reason 0x04
// Disconnect with Will Message publishes it.
func TestWillNotOnNormalDisconnect(t *testing.T) {
	forVersions(t, func(t *testing.T, v packet.Version) {
		srv, addr := start(t, broker.Options{})
		s, _ := client(t, addr, v, "s", true)
		s.Subscribe(1, 1, "w")
		c, _ := client(t, addr, v, "c", true, withWill("w", "normal", 1, false))
		c.Send(&packet.Disconnect{})
		c.ExpectClosed()
		mqtttest.Eventually(t, "the client to leave", func() bool { return srv.Stats().Connections == 1 })
		s.ExpectNone()
		if v != packet.V5 {
			return
		}
		c, _ = client(t, addr, v, "c", true, withWill("w", "with will", 1, false))
		c.Send(&packet.Disconnect{ReasonCode: packet.DisconnectWithWill})
		c.ExpectClosed()
		recv(t, s, "w", "with will")
	})
}

// [MQTT-3.1.3-9]: v5 Will Delay Interval: the will goes out when the delay
// has passed, not at the close.
func TestWillDelay(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "wd")
	c, _ := client(t, addr, packet.V5, "c", false, sessionExpiry(60), withWill("wd", "late", 1, false), willDelay(1))
	begin := time.Now()
	c.Conn.Close()
	recv(t, s, "wd", "late")
	if d := time.Since(begin); d < 900*time.Millisecond {
		t.Fatalf("will published after %v, want the 1 s delay", d)
	}
}

// [MQTT-3.1.3-9]: a client that reconnects within the Will Delay Interval
// cancels its will.
func TestWillDelayCancelledByReconnect(t *testing.T) {
	t.Parallel()
	srv, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "wc")
	c, _ := client(t, addr, packet.V5, "c", false, sessionExpiry(60), withWill("wc", "cancelled", 1, false), willDelay(1))
	c.Conn.Close()
	mqtttest.Eventually(t, "the client to leave", func() bool { return srv.Stats().Connections == 1 })
	client(t, addr, packet.V5, "c", false, sessionExpiry(60))
	s.ExpectNothing(1500 * time.Millisecond)
	if n := srv.Stats().WillsSent; n != 0 {
		t.Fatalf("%d wills sent", n)
	}
}

// [MQTT-3.1.3-9]: the will goes out when the session ends, if that is
// before the will delay: the delay is capped by the session expiry.
func TestWillDelayCappedBySessionExpiry(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "wx/#")
	c, _ := client(t, addr, packet.V5, "c", false, sessionExpiry(1), withWill("wx/1", "session ended", 1, false), willDelay(60))
	begin := time.Now()
	c.Conn.Close()
	recv(t, s, "wx/1", "session ended")
	if d := time.Since(begin); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("will after %v, want about 1 s", d)
	}
	// Session expiry 0: the session ends with the connection, so does the
	// delay.
	c, _ = client(t, addr, packet.V5, "c2", true, withWill("wx/2", "now", 1, false), willDelay(60))
	c.Conn.Close()
	recv(t, s, "wx/2", "now")
}

// v5 §3.1.3.2: will properties are forwarded with the will message:
// payload format, content type, response topic, correlation data, user
// properties, and message expiry counted from publication.
func TestWillProperties(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "wp")
	c, _ := client(t, addr, packet.V5, "c", true, withWill("wp", "{}", 1, false), func(cp *packet.Connect) {
		wp := &cp.WillProperties
		wp.Has |= packet.HasPayloadFormat | packet.HasMessageExpiry
		wp.PayloadFormat = 1
		wp.MessageExpiry = 50
		wp.ContentType = []byte("application/json")
		wp.ResponseTopic = []byte("reply/here")
		wp.CorrelationData = []byte{0, 1, 2}
		wp.UserProperties = []packet.UserProperty{{Key: []byte("k"), Value: []byte("v1")}, {Key: []byte("k"), Value: []byte("v2")}}
	})
	c.Conn.Close()
	m := recv(t, s, "wp", "{}")
	p := &m.Properties
	if p.Has&packet.HasPayloadFormat == 0 || p.PayloadFormat != 1 {
		t.Errorf("payload format %d (has %v)", p.PayloadFormat, p.Has&packet.HasPayloadFormat != 0)
	}
	if p.Has&packet.HasMessageExpiry == 0 || p.MessageExpiry < 49 || p.MessageExpiry > 50 {
		t.Errorf("message expiry %d", p.MessageExpiry)
	}
	if string(p.ContentType) != "application/json" || string(p.ResponseTopic) != "reply/here" || !bytes.Equal(p.CorrelationData, []byte{0, 1, 2}) {
		t.Errorf("content type %q response topic %q correlation %v", p.ContentType, p.ResponseTopic, p.CorrelationData)
	}
	if len(p.UserProperties) != 2 || string(p.UserProperties[0].Value) != "v1" || string(p.UserProperties[1].Value) != "v2" {
		t.Errorf("user properties %q", p.UserProperties)
	}
	if p.Has&packet.HasWillDelay != 0 || p.Has&packet.HasSessionExpiry != 0 {
		t.Errorf("will-only properties forwarded: %+v", p)
	}
}

// v5 §3.1.3.3, [MQTT-3.2.2-12]: a will whose topic is invalid or whose QoS is above the
// maximum refuses the connection.
func TestWillInvalid(t *testing.T) {
	_, addr := start(t, broker.Options{MaxQoS: 1})
	for _, tc := range []struct {
		will func(*packet.Connect)
		rc   packet.ReasonCode
	}{
		{withWill("a/+", "x", 0, false), packet.TopicNameInvalid},
		{withWill("a", "x", 2, false), packet.QoSNotSupported},
	} {
		c := mqtttest.Dial(t, addr, packet.V5)
		cp := &packet.Connect{ClientID: []byte("c"), CleanStart: true}
		tc.will(cp)
		if ack := c.TryConnect(cp); ack.ReasonCode != tc.rc {
			t.Fatalf("CONNACK %v, want %v", ack.ReasonCode, tc.rc)
		}
		c.ExpectClosed()
	}
}

func willDelay(secs uint32) func(*packet.Connect) {
	return func(cp *packet.Connect) {
		cp.WillProperties.Has |= packet.HasWillDelay
		cp.WillProperties.WillDelay = secs
	}
}

// Takeover and the will [MQTT-3.1.4-3], [MQTT-3.1.3-9]: a will without delay
// is published when the old connection is closed; a delayed will is dropped
// when the new connection resumes the session, and published at once when
// it starts a clean one (the old session ended).
func TestWillOnTakeover(t *testing.T) {
	_, addr := start(t, broker.Options{})
	s, _ := client(t, addr, packet.V5, "s", true)
	s.Subscribe(1, 1, "wt/#")

	old, _ := client(t, addr, packet.V5, "a", false, sessionExpiry(60), withWill("wt/a", "no delay", 1, false))
	client(t, addr, packet.V5, "a", false, sessionExpiry(60))
	old.ExpectDisconnect(packet.SessionTakenOver)
	recv(t, s, "wt/a", "no delay")

	old, _ = client(t, addr, packet.V5, "b", false, sessionExpiry(60), withWill("wt/b", "resumed", 1, false), willDelay(60))
	client(t, addr, packet.V5, "b", false, sessionExpiry(60))
	old.ExpectDisconnect(packet.SessionTakenOver)

	old, _ = client(t, addr, packet.V5, "c", false, sessionExpiry(60), withWill("wt/c", "session ended", 1, false), willDelay(60))
	client(t, addr, packet.V5, "c", true, sessionExpiry(60))
	old.ExpectDisconnect(packet.SessionTakenOver)
	recv(t, s, "wt/c", "session ended")
	s.ExpectNone()
}

// [MQTT-3.1.2-8]: the will is published when the server closes the
// connection because of a protocol error.
func TestWillOnProtocolError(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 1, vid("wpe", v))
		c, _ := client(t, addr, v, vid("c", v), true, withWill(vid("wpe", v), "violation", 1, false))
		c.SendRaw([]byte{0xC1, 0x00}) // PINGREQ with reserved flags
		c.ExpectDisconnect(packet.MalformedPacket)
		recv(t, s, vid("wpe", v), "violation")
	})
}
