package broker_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// testAuth refuses user "bad" (wrong password) and "banned" (not
// authorized), denies publish and subscribe on "secret/...", receive on
// "hidden/..." and everything on "<user>-only/..." to other users.
type testAuth struct {
	mu   sync.Mutex
	seen []broker.ClientInfo
}

func (a *testAuth) Authenticate(ci *broker.ClientInfo, password []byte) packet.ReasonCode {
	a.mu.Lock()
	a.seen = append(a.seen, *ci)
	a.mu.Unlock()
	switch {
	case ci.Username == "bad" || (ci.Username != "" && string(password) != "pw"):
		return packet.BadUserNameOrPassword
	case ci.Username == "banned":
		return packet.NotAuthorized
	}
	return packet.Success
}

func (a *testAuth) Authorize(ci *broker.ClientInfo, act broker.Action, topic string) bool {
	if user, _, ok := strings.Cut(topic, "-only/"); ok && user != ci.Username {
		return false
	}
	switch act {
	case broker.ActionPublish, broker.ActionSubscribe:
		return !strings.HasPrefix(topic, "secret/")
	case broker.ActionReceive:
		return !strings.HasPrefix(topic, "hidden/")
	}
	return false
}

func user(name string) func(*packet.Connect) {
	return func(cp *packet.Connect) {
		cp.Username, cp.Password, cp.HasUsername, cp.HasPassword = []byte(name), []byte("pw"), true, true
	}
}

// Authenticate refusing a CONNECT: v5 CONNACK with its reason (0x86, 0x87),
// v3 return codes 4 and 5; the connection is closed [MQTT-3.2.2-7].
func TestAuthConnectRefused(t *testing.T) {
	a := &testAuth{}
	_, addr := start(t, broker.Options{Auth: a})
	for _, tc := range []struct {
		v    packet.Version
		name string
		want packet.ReasonCode
	}{
		{packet.V5, "bad", packet.BadUserNameOrPassword},
		{packet.V5, "banned", packet.NotAuthorized},
		{packet.V311, "bad", 4},
		{packet.V311, "banned", 5},
		{packet.V31, "bad", 4},
	} {
		c := dialRaw(t, addr, tc.v)
		cp := &packet.Connect{ClientID: []byte("c"), CleanStart: true}
		user(tc.name)(cp)
		if ack := c.TryConnect(cp); ack.ReasonCode != tc.want {
			t.Fatalf("v%d %s: CONNACK %#x, want %#x", tc.v, tc.name, byte(ack.ReasonCode), byte(tc.want))
		}
		c.ExpectClosed()
	}
	// Wrong password.
	c := dialRaw(t, addr, packet.V5)
	cp := &packet.Connect{ClientID: []byte("c"), CleanStart: true, Username: []byte("u"), Password: []byte("nope"), HasUsername: true, HasPassword: true}
	if ack := c.TryConnect(cp); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("CONNACK %v", ack.ReasonCode)
	}
	// The hook saw the identity.
	client(t, addr, packet.V311, "ok", true, user("alice"))
	a.mu.Lock()
	last := a.seen[len(a.seen)-1]
	a.mu.Unlock()
	if last.ClientID != "ok" || last.Username != "alice" || last.Transport != "tcp" || last.RemoteAddr == nil {
		t.Fatalf("client info %+v", last)
	}
}

// A SUBSCRIBE the hook refuses gets 0x80 (v3) / 0x87 Not authorized (v5)
// for that filter; the others are granted.
func TestAuthSubscribeDenied(t *testing.T) {
	_, addr := start(t, broker.Options{Auth: &testAuth{}})
	forVersions(t, func(t *testing.T, v packet.Version) {
		fail := packet.UnspecifiedError
		if v == packet.V5 {
			fail = packet.NotAuthorized
		}
		c, _ := client(t, addr, v, vid("c", v), true)
		expectCodes(t, c.Subscribe(1, 1, "secret/x", "public/x", "secret/#"), fail, 1, fail)
		p, _ := client(t, addr, v, vid("p", v), true)
		p.Publish("public/x", 1, false, "ok", 1)
		recv(t, c, "public/x", "ok")
	})
}

// A PUBLISH the hook refuses is not delivered; v5 PUBACK / PUBREC carry
// 0x87, v3 acknowledges it normally [MQTT-3.3.5-2].
func TestAuthPublishDenied(t *testing.T) {
	_, addr := start(t, broker.Options{Auth: &testAuth{}})
	forVersions(t, func(t *testing.T, v packet.Version) {
		s, _ := client(t, addr, v, vid("s", v), true)
		s.Subscribe(1, 2, "#")
		p, _ := client(t, addr, v, vid("p", v), true)
		want := packet.Success
		if v == packet.V5 {
			want = packet.NotAuthorized
		}
		p.Publish("secret/"+vid("x", v), 0, false, "no", 0)
		if rc := p.Publish("secret/"+vid("x", v), 1, false, "no", 1); rc != want {
			t.Fatalf("PUBACK %v, want %v", rc, want)
		}
		if rc := p.Publish("secret/"+vid("x", v), 2, true, "no", 2); rc != want {
			t.Fatalf("PUBREC %v, want %v", rc, want)
		}
		for _, pk := range s.Sync() {
			if m := pk.(*packet.Publish); strings.HasPrefix(string(m.Topic), "secret/") {
				t.Fatalf("denied message delivered: %s", mqtttest.Describe(m))
			}
		}
		// Not retained either.
		r, _ := client(t, addr, v, vid("r", v), true)
		r.Subscribe(1, 1, "secret/"+vid("x", v))
		r.ExpectNone()
	})
}

// ActionReceive: a subscriber the hook does not allow to receive a topic
// does not get its messages; others do.
func TestAuthReceiveDenied(t *testing.T) {
	_, addr := start(t, broker.Options{Auth: &testAuth{}})
	alice, _ := client(t, addr, packet.V5, "alice", true, user("alice"))
	bob, _ := client(t, addr, packet.V5, "bob", true, user("bob"))
	alice.Subscribe(1, 1, "hidden/#", "+/x")
	bob.Subscribe(1, 1, "+/x")
	p, _ := client(t, addr, packet.V5, "p", true, user("alice"))
	p.Publish("hidden/x", 1, false, "h", 1)
	p.Publish("alice-only/x", 1, false, "a", 2)
	recv(t, alice, "alice-only/x", "a")
	alice.ExpectNone()
	bob.ExpectNone()
}

// The will is subject to the publish check too.
func TestAuthWillDenied(t *testing.T) {
	srv, addr := start(t, broker.Options{Auth: &testAuth{}})
	s, _ := client(t, addr, packet.V311, "s", true)
	s.Subscribe(1, 1, "#")
	c, _ := client(t, addr, packet.V311, "c", true, withWill("secret/will", "x", 1, false))
	c.Conn.Close()
	mqtttest.Eventually(t, "c to leave", func() bool { return srv.Stats().Connections == 1 })
	s.ExpectNone()
}

// ActionReceive is also checked for messages queued while the subscriber
// was offline, when they are sent.
func TestAuthReceiveDeniedQueued(t *testing.T) {
	srv, addr := start(t, broker.Options{Auth: &testAuth{}})
	alice, _ := client(t, addr, packet.V5, "alice", false, sessionExpiry(60), user("alice"))
	alice.Subscribe(1, 1, "+/x")
	offline(t, srv, alice)
	p, _ := client(t, addr, packet.V5, "p", true, user("bob"))
	p.Publish("hidden/x", 1, false, "h", 1)
	p.Publish("open/x", 1, false, "o", 2)
	alice, _ = client(t, addr, packet.V5, "alice", false, sessionExpiry(60), user("alice"))
	recv(t, alice, "open/x", "o")
	alice.ExpectNone()
}
