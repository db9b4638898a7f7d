package interop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// lib is a client library driven through a script in testdata/; the
// scripts take the same arguments, run the same commands and print the
// same JSON lines (see testdata/paho_client.py).
type lib struct {
	name  string // topic and client-id prefix
	check string // the need() key
}

var (
	paho   = lib{"paho", "paho"}
	mqttjs = lib{"mqttjs", "node"}
)

func TestPahoMQTT(t *testing.T) { t.Parallel(); testLib(t, paho) }
func TestNodeMQTT(t *testing.T) { t.Parallel(); testLib(t, mqttjs) }

// client is one running client script.
type client struct {
	*proc
	lib     lib
	stdin   io.WriteCloser
	msgs    chan event // "message" events
	ctl     chan event // every other event
	connack event
}

// launch starts a client of version ver ("311" or "5") with the
// command-line args (see testdata/paho_client.py) and returns at once.
func (l lib) launch(t testing.TB, b *broker, ver string, args ...string) *client {
	t.Helper()
	need(t, l.check)
	args = append([]string{"--port", b.port, "--version", ver}, args...)
	var p *proc
	switch l.check {
	case "paho":
		p = newProc(t, nil, python, append([]string{"testdata/paho_client.py"}, args...)...)
	case "node":
		p = newProc(t, []string{nodePath}, "node", append([]string{"testdata/mqtt_client.js"}, args...)...)
	default:
		t.Fatalf("unknown library %q", l.name)
	}
	c := &client{proc: p, lib: l, msgs: make(chan event, 1<<12), ctl: make(chan event, 1<<12)}
	var err error
	if c.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.start()
	go c.route()
	return c
}

// connect is launch, then a wait for a successful CONNACK.
func (l lib) connect(t testing.TB, b *broker, ver string, args ...string) *client {
	t.Helper()
	c := l.launch(t, b, ver, args...)
	c.connack = c.expect("connected")
	if c.connack.RC != 0 {
		t.Fatalf("%s: CONNACK %s", l.name, c.connack)
	}
	return c
}

// route sorts the output lines into messages and the rest.
func (c *client) route() {
	defer close(c.msgs)
	defer close(c.ctl)
	for l := range c.out {
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			e = event{Event: "error", Error: "a line that is not JSON"}
		}
		e.raw = l
		if e.Event == "message" {
			c.msgs <- e
		} else {
			c.ctl <- e
		}
	}
}

func (c *client) wait(ch <-chan event, what string) event {
	c.t.Helper()
	e, err := recv(ch, waitTimeout)
	switch {
	case errors.Is(err, io.EOF):
		c.t.Fatalf("%s exited (%s) while waiting for %s\n--- stdout:\n%s--- stderr:\n%s",
			c.lib.name, c.exitStatus(), what, c.outW.String(), c.errW.String())
	case err != nil:
		c.t.Fatalf("%s: no %s within %v\n--- stdout:\n%s--- stderr:\n%s",
			c.lib.name, what, waitTimeout, c.outW.String(), c.errW.String())
	case e.Event == "error":
		c.t.Fatalf("%s reported an error while waiting for %s: %s\n--- stderr:\n%s", c.lib.name, what, e, c.errW.String())
	}
	return e
}

// expect returns the next event that is not a message, failing unless it
// is of kind.
func (c *client) expect(kind string) event {
	c.t.Helper()
	e := c.wait(c.ctl, "a "+kind+" event")
	if e.Event != kind {
		c.t.Fatalf("%s: expected a %s event, got %s", c.lib.name, kind, e)
	}
	return e
}

// next returns the next message.
func (c *client) next() event {
	c.t.Helper()
	return c.wait(c.msgs, "a message")
}

// messages returns the next n messages.
func (c *client) messages(n int) []event {
	c.t.Helper()
	ms := make([]event, n)
	for i := range ms {
		ms[i] = c.next()
	}
	return ms
}

func (c *client) send(cmd map[string]any) {
	c.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		c.t.Fatalf("%s: sending %s: %v (%s)", c.lib.name, b, err, c.exitStatus())
	}
}

// subscribe subscribes to "filter:qos" pairs, failing unless the broker
// grants want.
func (c *client) subscribe(want []int, subs ...string) {
	c.t.Helper()
	var list [][]any
	for _, s := range subs {
		f, q, _ := strings.Cut(s, ":")
		list = append(list, []any{f, int(q[0] - '0')})
	}
	c.send(map[string]any{"cmd": "subscribe", "subs": list})
	if e := c.expect("subscribed"); !slices.Equal(e.Granted, want) {
		c.t.Fatalf("%s: SUBACK granted %v, want %v", c.lib.name, e.Granted, want)
	}
}

// v5props are the v5 properties a publish carries.
type v5props struct {
	userProps   [][]string
	contentType string
}

// publish publishes payloads in order, each once the previous one was
// acknowledged (PUBACK for QoS 1, PUBCOMP for QoS 2).
func (c *client) publish(topic string, qos int, retain bool, props *v5props, ps ...string) {
	c.t.Helper()
	for _, p := range ps {
		cmd := map[string]any{"cmd": "publish", "topic": topic, "qos": qos, "retain": retain, "payload": p}
		if props != nil {
			cmd["user_properties"] = props.userProps
			cmd["content_type"] = props.contentType
		}
		c.send(cmd)
		if e := c.expect("published"); e.Payload != p {
			c.t.Fatalf("%s: acknowledged %q, want %q", c.lib.name, e.Payload, p)
		}
	}
}

// disconnect sends DISCONNECT and waits for a clean exit.
func (c *client) disconnect() {
	c.t.Helper()
	c.send(map[string]any{"cmd": "disconnect"})
	c.expect("disconnected")
	c.runToEnd()
}

func libTopic(l lib, ver, s string) string { return l.name + "/v" + ver + "/" + s }

// testLib runs the same scenarios with a library's client for v3.1.1 and
// v5 against one broker.
func testLib(t *testing.T, l lib) {
	b := startBroker(t, "")
	for _, ver := range []string{"311", "5"} {
		t.Run("v"+ver, func(t *testing.T) {
			t.Parallel()
			t.Run("QoS", func(t *testing.T) { testLibQoS(t, l, b, ver) })
			t.Run("Retained", func(t *testing.T) { testLibRetained(t, l, b, ver) })
			t.Run("Will", func(t *testing.T) { testLibWill(t, l, b, ver) })
			t.Run("PersistentSession", func(t *testing.T) { testLibPersistent(t, l, b, ver) })
		})
	}
}

// testLibQoS: one client publishes three messages at each of QoS 0, 1 and
// 2; a subscriber at QoS 2 gets each once at its publish QoS, one at QoS 1
// gets each at min(publish QoS, 1) [MQTT-3.8.4-6 / MQTT-3.8.4-8], per topic
// in the publisher's order [MQTT-4.6.0-6], RETAIN and DUP clear; on v5 the
// user properties (in order) and the content type come through unchanged
// [MQTT-3.3.2-17, -18, -20].
func testLibQoS(t *testing.T, l lib, b *broker, ver string) {
	prefix := libTopic(l, ver, "qos")
	subs := map[int]*client{}
	for _, sq := range []int{2, 1} {
		subs[sq] = l.connect(t, b, ver, "--id", fmt.Sprintf("%s-qos%d-%s", l.name, sq, ver))
		subs[sq].subscribe([]int{sq}, fmt.Sprintf("%s/#:%d", prefix, sq))
	}
	var props *v5props
	if ver == "5" {
		props = &v5props{userProps: [][]string{{"a", "1"}, {"b", "two"}}, contentType: "text/plain"}
	}
	pub := l.connect(t, b, ver, "--id", l.name+"-qos-pub-"+ver)
	for q := range 3 {
		pub.publish(fmt.Sprintf("%s/q%d", prefix, q), q, false, props, payloads(fmt.Sprintf("q%d", q), 3)...)
	}
	pub.disconnect()

	for sq, sub := range subs {
		byTopic := map[string][]msgKey{}
		for _, m := range sub.messages(9) {
			if m.Dup {
				t.Errorf("DUP set on a first delivery: %s", m)
			}
			if ver == "5" {
				if fmt.Sprint(m.UserProperties) != "[[a 1] [b two]]" || m.ContentType == nil || *m.ContentType != "text/plain" {
					t.Errorf("v5 properties not passed through: %s", m)
				}
			} else if m.UserProperties != nil || m.ContentType != nil {
				t.Errorf("v3.1.1 message with v5 properties: %s", m)
			}
			byTopic[m.Topic] = append(byTopic[m.Topic], m.key())
		}
		for q := range 3 {
			topic := fmt.Sprintf("%s/q%d", prefix, q)
			var want []msgKey
			for _, p := range payloads(fmt.Sprintf("q%d", q), 3) {
				want = append(want, msgKey{topic, p, min(q, sq), false})
			}
			sameKeys(t, fmt.Sprintf("subscription at QoS %d, published at QoS %d", sq, q), byTopic[topic], want)
		}
	}
}

// testLibRetained: set, replace and delete retained messages; a new
// subscriber gets exactly the stored ones, RETAIN set, at min(QoS)
// [MQTT-3.3.1-5, -6, -8, -10, -11]. Each new subscriber's retained messages
// are those before a marker published after its SUBACK.
func testLibRetained(t *testing.T, l lib, b *broker, ver string) {
	prefix := libTopic(l, ver, "ret")
	ta, tb, marker := prefix+"/a", prefix+"/b", prefix+"/marker"
	pub := l.connect(t, b, ver, "--id", l.name+"-ret-pub-"+ver)
	retainedNow := func(step string) []msgKey {
		t.Helper()
		s := l.connect(t, b, ver, "--id", l.name+"-ret-"+step+"-"+ver)
		s.subscribe([]int{1}, prefix+"/#:1")
		pub.publish(marker, 1, false, nil, step)
		var ks []msgKey
		for {
			m := s.next()
			if m.Topic == marker && m.Payload == step && !m.Retain {
				break
			}
			ks = append(ks, m.key())
		}
		s.disconnect()
		slices.SortFunc(ks, func(a, b msgKey) int { return strings.Compare(a.Topic, b.Topic) })
		return ks
	}
	pub.publish(ta, 1, true, nil, "a1")
	sameKeys(t, "after set", retainedNow("set"), []msgKey{{ta, "a1", 1, true}})
	pub.publish(ta, 2, true, nil, "a2")
	pub.publish(tb, 0, true, nil, "b1")
	sameKeys(t, "after replace", retainedNow("replace"), []msgKey{{ta, "a2", 1, true}, {tb, "b1", 0, true}})
	pub.publish(ta, 1, true, nil, "")
	sameKeys(t, "after delete of "+ta, retainedNow("delete-a"), []msgKey{{tb, "b1", 0, true}})
	pub.publish(tb, 0, true, nil, "")
	sameKeys(t, "after delete of "+tb, retainedNow("delete-b"), nil)
	pub.disconnect()
}

// testLibWill: the will of a client killed with SIGKILL is published at its
// QoS [MQTT-3.1.2-8], with its user properties on v5; the will of a client
// that disconnected normally is not [MQTT-3.1.2-10].
func testLibWill(t *testing.T, l lib, b *broker, ver string) {
	prefix := libTopic(l, ver, "will")
	obs := l.connect(t, b, ver, "--id", l.name+"-will-obs-"+ver)
	obs.subscribe([]int{2}, prefix+"/#:2")

	l.connect(t, b, ver, "--id", l.name+"-will-clean-"+ver,
		"--will-topic", prefix+"/w", "--will-payload", "after-disconnect", "--will-qos", "1").disconnect()

	args := []string{"--id", l.name + "-will-victim-" + ver,
		"--will-topic", prefix + "/w", "--will-payload", "killed", "--will-qos", "2"}
	if ver == "5" {
		args = append(args, "--will-user-prop", "origin="+l.name)
	}
	l.connect(t, b, ver, args...).kill()

	m := obs.next()
	if m.Payload == "after-disconnect" {
		t.Fatalf("the will of a client that sent DISCONNECT was published [MQTT-3.1.2-10]: %s", m)
	}
	if m.key() != (msgKey{prefix + "/w", "killed", 2, false}) || m.Dup {
		t.Fatalf("will: got %s", m)
	}
	if ver == "5" && fmt.Sprint(m.UserProperties) != "[[origin "+l.name+"]]" {
		t.Errorf("will user properties lost: %s", m)
	}
}

// testLibPersistent: a client with clean session false (v5: clean start
// false and a session expiry) subscribes and leaves; QoS 1 and 2 messages
// published meanwhile arrive when it reconnects with the same id, with
// session present set [MQTT-3.2.2-2 v3.1.1, MQTT-3.2.2-3 v5], in order, at their QoS.
func testLibPersistent(t *testing.T, l lib, b *broker, ver string) {
	topic := libTopic(l, ver, "persist")
	session := []string{"--id", l.name + "-persist-" + ver, "--no-clean"}
	if ver == "5" {
		session = append(session, "--session-expiry", "300")
	}
	first := l.connect(t, b, ver, session...)
	if first.connack.SessionPresent {
		t.Fatalf("CONNACK of a new session: %s", first.connack)
	}
	first.subscribe([]int{2}, topic+":2")
	first.disconnect()

	pub := l.connect(t, b, ver, "--id", l.name+"-persist-pub-"+ver)
	pub.publish(topic, 1, false, nil, payloads("q1", 5)...)
	pub.publish(topic, 2, false, nil, payloads("q2", 5)...)
	pub.disconnect()

	again := l.connect(t, b, ver, session...)
	if !again.connack.SessionPresent {
		t.Fatalf("CONNACK on resuming the session: %s (want session present [MQTT-3.2.2-2 v3.1.1, MQTT-3.2.2-3 v5])", again.connack)
	}
	byQoS := map[int][]string{}
	for _, m := range again.messages(10) {
		if m.Topic != topic || m.Retain || m.Dup {
			t.Errorf("unexpected message %s", m)
		}
		byQoS[m.QoS] = append(byQoS[m.QoS], m.Payload)
	}
	if !slices.Equal(byQoS[1], payloads("q1", 5)) || !slices.Equal(byQoS[2], payloads("q2", 5)) || len(byQoS) != 2 {
		t.Fatalf("queued messages by QoS: got %v, want 1: %v, 2: %v", byQoS, payloads("q1", 5), payloads("q2", 5))
	}
	again.disconnect()
}
