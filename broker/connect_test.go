package broker_test

import (
	"net"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// [MQTT-3.1.0-1]: the first packet from the client must be CONNECT.
func TestConnectFirstPacketMustBeConnect(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		c := mqtttest.Dial(t, addr, v)
		c.SendRaw(packet.AppendPingreq(nil))
		if got := c.ExpectClosed(); len(got) != 0 {
			t.Fatalf("got %v before the close", got)
		}
		// PUBLISH before CONNECT, too.
		c = mqtttest.Dial(t, addr, v)
		c.Send(&packet.Publish{Topic: []byte("a"), Payload: []byte("x")})
		if got := c.ExpectClosed(); len(got) != 0 {
			t.Fatalf("got %v before the close", got)
		}
	})
}

// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation; v5 gets
// DISCONNECT 0x82 Protocol Error.
func TestConnectSecondConnect(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		c, _ := client(t, addr, v, vid("twice", v), true)
		c.Send(&packet.Connect{Version: v, ClientID: []byte("twice"), CleanStart: true})
		c.ExpectDisconnect(packet.ProtocolError)
	})
}

// [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK return code 1
// (the 3.1.1 form, whatever the level) and the connection is closed.
func TestConnectUnknownProtocolLevel(t *testing.T) {
	_, addr := start(t, broker.Options{})
	for _, level := range []byte{2, 6, 7, 255} {
		c := mqtttest.Dial(t, addr, packet.V311)
		b := rawConnect(&packet.Connect{Version: packet.V311, ClientID: []byte("x"), CleanStart: true})
		// fixed header (2 bytes), 00 04 'M' 'Q' 'T' 'T', then the level.
		b[2+6] = level
		c.SendRaw(b)
		got := c.ExpectClosed()
		if len(got) != 1 {
			t.Fatalf("level %d: got %d packets, want one CONNACK", level, len(got))
		}
		ack, ok := got[0].(*packet.Connack)
		if !ok || ack.ReasonCode != 1 || ack.SessionPresent {
			t.Fatalf("level %d: got %s, want CONNACK rc 1", level, mqtttest.Describe(got[0]))
		}
	}
}

// An unknown protocol name is not MQTT: close or refuse with rc 1, never
// accept.
func TestConnectUnknownProtocolName(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c := mqtttest.Dial(t, addr, packet.V311)
	b := rawConnect(&packet.Connect{Version: packet.V311, ClientID: []byte("x"), CleanStart: true})
	copy(b[4:8], "MQTX")
	c.SendRaw(b)
	for _, p := range c.ExpectClosed() {
		if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode == 0 {
			t.Fatalf("got %s", mqtttest.Describe(p))
		}
	}
}

// [MQTT-3.1.3-7], [MQTT-3.1.3-8]: v3.1.1 accepts a zero-length client id
// only with clean session, otherwise CONNACK rc 2. MQTT 3.1 requires 1..23
// characters.
func TestConnectZeroLengthClientIDv3(t *testing.T) {
	_, addr := start(t, broker.Options{})

	c, ack := client(t, addr, packet.V311, "", true)
	if ack.SessionPresent {
		t.Fatal("session present for an assigned id")
	}
	c.Subscribe(1, 0, "zero/len")
	c.Publish("zero/len", 0, false, "ok", 0)
	c.ExpectPublish("zero/len", "ok")

	for _, v := range []packet.Version{packet.V311, packet.V31} {
		clean := v == packet.V31 // 3.1 refuses even with clean session
		c = mqtttest.Dial(t, addr, v)
		ack = c.TryConnect(&packet.Connect{CleanStart: clean})
		if ack.ReasonCode != 2 {
			t.Fatalf("v%d: CONNACK rc %d, want 2 (identifier rejected)", v, ack.ReasonCode)
		}
		c.ExpectClosed()
	}
}

// [MQTT-3.1.3-6], [MQTT-3.2.2-16]: v5 gets an Assigned Client Identifier,
// unique per connection.
func TestConnectAssignedClientIDv5(t *testing.T) {
	_, addr := start(t, broker.Options{})
	seen := map[string]bool{}
	for _, clean := range []bool{true, false, true} {
		_, ack := client(t, addr, packet.V5, "", clean)
		id := string(ack.Properties.AssignedClientID)
		if id == "" || seen[id] {
			t.Fatalf("assigned client id %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
	// A client that sent an id gets none back.
	_, ack := client(t, addr, packet.V5, "mine", true)
	if ack.Properties.AssignedClientID != nil {
		t.Fatalf("assigned %q to a client with an id", ack.Properties.AssignedClientID)
	}
}

// AllowZeroLengthIDs=false: v5 refuses with 0x85.
func TestConnectZeroLengthClientIDRefused(t *testing.T) {
	no := false
	_, addr := start(t, broker.Options{AllowZeroLengthIDs: &no})
	c := mqtttest.Dial(t, addr, packet.V5)
	if ack := c.TryConnect(&packet.Connect{CleanStart: true}); ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("CONNACK %v, want 0x85", ack.ReasonCode)
	}
	c.ExpectClosed()
}

// [MQTT-4.12.0-1]: no enhanced authentication method is configured, so a
// v5 CONNECT with an Authentication Method gets CONNACK 0x8C.
func TestConnectAuthMethodRefused(t *testing.T) {
	_, addr := start(t, broker.Options{})
	c := mqtttest.Dial(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: []byte("scram"), CleanStart: true}
	cp.Properties.AuthMethod = []byte("SCRAM-SHA-1")
	ack := c.TryConnect(cp)
	if ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("CONNACK %v, want 0x8C", ack.ReasonCode)
	}
	c.ExpectClosed()
}

// A socket that never sends CONNECT is closed after ConnectTimeout.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	_, addr := start(t, broker.Options{ConnectTimeout: 100 * time.Millisecond})
	begin := time.Now()
	c := mqtttest.Dial(t, addr, packet.V311)
	c.ExpectClosed()
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
	// A half-sent CONNECT does not keep the socket open either.
	c = mqtttest.Dial(t, addr, packet.V311)
	c.SendRaw(rawConnect(&packet.Connect{Version: packet.V311, ClientID: []byte("slow")})[:5])
	c.ExpectClosed()
	// A connected client is not affected.
	c, _ = client(t, addr, packet.V311, "fast", true)
	c.ExpectNothing(300 * time.Millisecond)
}

// MaxConnections: connections beyond the limit are closed; one that left
// makes room.
func TestConnectMaxConnections(t *testing.T) {
	srv, addr := start(t, broker.Options{MaxConnections: 2})
	a, _ := client(t, addr, packet.V311, "a", true)
	client(t, addr, packet.V5, "b", true)
	c := mqtttest.Dial(t, addr, packet.V311)
	c.SendRaw(rawConnect(&packet.Connect{Version: packet.V311, ClientID: []byte("c"), CleanStart: true}))
	if got := c.ExpectClosed(); len(got) != 0 {
		t.Fatalf("refused connection got %v", got)
	}
	a.Send(&packet.Disconnect{})
	a.ExpectClosed()
	mqtttest.Eventually(t, "the connection to leave", func() bool { return srv.Stats().Connections == 1 })
	client(t, addr, packet.V311, "c", true)
}

// [MQTT-3.2.2-1], [MQTT-3.2.2-2]: clean session → session present 0; MQTT
// 3.1 has no session present flag.
func TestConnectSessionPresentFlag(t *testing.T) {
	_, addr := start(t, broker.Options{})
	forVersions(t, func(t *testing.T, v packet.Version) {
		id := vid("sp", v)
		c, ack := client(t, addr, v, id, false, sessionExpiry(60))
		if ack.SessionPresent {
			t.Fatal("session present for a new session")
		}
		c.Send(&packet.Disconnect{})
		c.ExpectClosed()
		_, ack = client(t, addr, v, id, false, sessionExpiry(60))
		if want := v != packet.V31; ack.SessionPresent != want {
			t.Fatalf("session present %v, want %v", ack.SessionPresent, want)
		}
		_, ack = client(t, addr, v, id, true)
		if ack.SessionPresent {
			t.Fatal("session present with clean start")
		}
	})
}

// v5 CONNACK announces the server's limits [MQTT-3.2.2-3.x].
func TestConnectV5ConnackProperties(t *testing.T) {
	_, addr := start(t, broker.Options{ReceiveMaximum: 7, MaxPacketSize: 4096, TopicAliasMaximum: 9, MaxSessionExpiry: 30 * time.Second})
	_, ack := client(t, addr, packet.V5, "props", false, sessionExpiry(3600))
	p := &ack.Properties
	if p.Has&packet.HasReceiveMaximum == 0 || p.ReceiveMaximum != 7 {
		t.Errorf("receive maximum %d (has %v)", p.ReceiveMaximum, p.Has&packet.HasReceiveMaximum != 0)
	}
	if p.Has&packet.HasMaximumPacketSize == 0 || p.MaximumPacketSize != 4096 {
		t.Errorf("maximum packet size %d", p.MaximumPacketSize)
	}
	if p.Has&packet.HasTopicAliasMaximum == 0 || p.TopicAliasMaximum != 9 {
		t.Errorf("topic alias maximum %d", p.TopicAliasMaximum)
	}
	// v5 §3.2.2.3.2: a capped Session Expiry Interval is announced.
	if p.Has&packet.HasSessionExpiry == 0 || p.SessionExpiry != 30 {
		t.Errorf("session expiry %d (has %v)", p.SessionExpiry, p.Has&packet.HasSessionExpiry != 0)
	}
}

// A CONNECT split over many TCP segments still works (the read loop
// reassembles packets).
func TestConnectFragmented(t *testing.T) {
	for _, mode := range readModes {
		_, addr := start(t, broker.Options{DisableNetpoll: mode.noNetpoll})
		c := mqtttest.Dial(t, addr, packet.V5)
		b := rawConnect(&packet.Connect{Version: packet.V5, ClientID: []byte("fragmented-client-id"), CleanStart: true, KeepAlive: 30})
		b = append(b, packet.AppendPingreq(nil)...)
		pub := packet.AppendPublish(nil, packet.V5, &packet.Publish{Topic: []byte("frag"), QoS: 1, PacketID: 1, Payload: make([]byte, 300)})
		b = append(b, pub...)
		for i := range b {
			c.SendRaw(b[i : i+1])
		}
		mqtttest.Expect[*packet.Connack](c)
		if p := c.Next(); p != packet.PINGRESP {
			t.Fatalf("%s: got %s, want PINGRESP", mode.name, mqtttest.Describe(p))
		}
		c.ExpectAck(packet.PUBACK, 1)
	}
}

// Shutdown: v5 clients get DISCONNECT 0x8B Server shutting down, v3
// clients a close; new connections are refused.
func TestShutdownDisconnects(t *testing.T) {
	srv, addr := start(t, broker.Options{})
	c5, _ := client(t, addr, packet.V5, "c5", true)
	c3, _ := client(t, addr, packet.V311, "c3", true)
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c5.ExpectDisconnect(packet.ServerShuttingDown)
	c3.ExpectDisconnect(0)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("listener still accepting")
	}
}

// v5 CONNECT properties with values the spec forbids are protocol errors:
// Receive Maximum 0 (v5 §3.1.2.11.3), Maximum Packet Size 0 (§3.1.2.11.4),
// Request Problem Information 2 (§3.1.2.11.7). Never accepted.
func TestConnectV5InvalidProperties(t *testing.T) {
	_, addr := start(t, broker.Options{})
	for name, mod := range map[string]func(*packet.Properties){
		"receive maximum 0":     func(p *packet.Properties) { p.Has |= packet.HasReceiveMaximum; p.ReceiveMaximum = 0 },
		"maximum packet size 0": func(p *packet.Properties) { p.Has |= packet.HasMaximumPacketSize; p.MaximumPacketSize = 0 },
		"request problem 2":     func(p *packet.Properties) { p.Has |= packet.HasRequestProblemInfo; p.RequestProblemInfo = 2 },
	} {
		c := dialRaw(t, addr, packet.V5)
		cp := &packet.Connect{Version: packet.V5, ClientID: []byte("c"), CleanStart: true}
		mod(&cp.Properties)
		c.Send(cp)
		for _, p := range c.ExpectClosed() {
			ack, ok := p.(*packet.Connack)
			if !ok || (ack.ReasonCode != packet.ProtocolError && ack.ReasonCode != packet.MalformedPacket) {
				t.Fatalf("%s: got %s", name, mqtttest.Describe(p))
			}
		}
	}
}
