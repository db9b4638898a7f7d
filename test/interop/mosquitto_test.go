package interop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The mosquitto clients (Debian mosquitto-clients 2.0.11) run with -d, so
// that their stdout shows the packets they send and receive, and with
// -F '%j\t%P': one line per message, the JSON rendering of the message
// (topic, qos, retain, mid, payload and the v5 properties), a tab, then the
// user properties in the order received (%j keeps them in a JSON object,
// which loses the order and repeated keys).

var mosqVersions = []string{"mqttv311", "mqttv5"}

// mosqMsg is one message printed by mosquitto_sub.
type mosqMsg struct {
	Topic      string `json:"topic"`
	QoS        int    `json:"qos"`
	Retain     int    `json:"retain"`
	PayloadLen int    `json:"payloadlen"`
	Mid        int    `json:"mid"`
	Payload    string `json:"payload"`
	Properties struct {
		PayloadFormat  *int              `json:"payload-format-indicator"`
		MessageExpiry  *int              `json:"message-expiry-interval"`
		ContentType    *string           `json:"content-type"`
		ResponseTopic  *string           `json:"response-topic"`
		Correlation    *string           `json:"correlation-data"`
		UserProperties map[string]string `json:"user-properties"`
	} `json:"properties"`
	UserProps string // %P: "k1:v1 k2:v2"
	Dup       bool   // from the -d line of the PUBLISH
	raw       string
}

func (m mosqMsg) key() msgKey { return msgKey{m.Topic, m.Payload, m.QoS, m.Retain == 1} }

// mosqSub is a running mosquitto_sub.
type mosqSub struct {
	*proc
	granted []int     // from "Subscribed (mid: 1): 1, 2"
	pending []mosqMsg // messages that arrived before the SUBACK
	dup     map[int]bool
}

var (
	reSubscribed = regexp.MustCompile(`^Subscribed \(mid: \d+\): (.*)$`)
	rePublishDbg = regexp.MustCompile(`received PUBLISH \(d(\d), q(\d), r(\d), m(\d+), `)
)

func mosqArgs(b *broker, version string, args ...string) []string {
	return append([]string{"-h", "127.0.0.1", "-p", b.port, "-V", version}, args...)
}

// startMosqSub starts mosquitto_sub with args (which must subscribe to at
// least one topic) and waits for its SUBACK.
func startMosqSub(t testing.TB, b *broker, version string, args ...string) *mosqSub {
	t.Helper()
	need(t, "mosquitto")
	args = mosqArgs(b, version, append([]string{"-d", "-F", `%j\t%P`}, args...)...)
	// stdbuf: mosquitto_sub does not flush its debug lines on a pipe.
	args = append([]string{"-oL", "mosquitto_sub"}, args...)
	s := &mosqSub{proc: startProc(t, nil, nil, "stdbuf", args...), dup: map[int]bool{}}
	for s.granted == nil {
		l := s.mustLine("the SUBACK")
		if m := reSubscribed.FindStringSubmatch(l); m != nil {
			for _, g := range strings.Split(m[1], ", ") {
				n, err := strconv.Atoi(g)
				if err != nil {
					t.Fatalf("mosquitto_sub: bad SUBACK line %q", l)
				}
				s.granted = append(s.granted, n)
			}
			continue
		}
		if msg, ok := s.parse(l); ok {
			s.pending = append(s.pending, msg)
		}
	}
	return s
}

func (s *mosqSub) mustLine(what string) string {
	s.t.Helper()
	l, err := s.line(waitTimeout)
	if errors.Is(err, io.EOF) {
		s.t.Fatalf("mosquitto_sub exited (%s) while waiting for %s\n--- stdout:\n%s--- stderr:\n%s",
			s.exitStatus(), what, s.outW.String(), s.errW.String())
	}
	if err != nil {
		s.t.Fatalf("mosquitto_sub: no %s within %v\n--- stdout:\n%s--- stderr:\n%s",
			what, waitTimeout, s.outW.String(), s.errW.String())
	}
	return l
}

// parse handles one stdout line: it records the DUP flag of PUBLISH debug
// lines and returns the message of a message line.
func (s *mosqSub) parse(l string) (mosqMsg, bool) {
	if m := rePublishDbg.FindStringSubmatch(l); m != nil {
		mid, _ := strconv.Atoi(m[4])
		s.dup[mid] = m[1] == "1"
		return mosqMsg{}, false
	}
	if !strings.HasPrefix(l, "{") {
		return mosqMsg{}, false // another debug line
	}
	js, up, ok := strings.Cut(l, "\t") // %j escapes tabs, so the first one is ours
	if !ok {
		s.t.Fatalf("mosquitto_sub: message line without the %%P field: %q", l)
	}
	var msg mosqMsg
	if err := json.Unmarshal([]byte(js), &msg); err != nil {
		s.t.Fatalf("mosquitto_sub: bad JSON %q: %v", js, err)
	}
	msg.UserProps = up
	msg.raw = l
	if msg.QoS > 0 {
		msg.Dup = s.dup[msg.Mid]
	}
	return msg, true
}

// next returns the next message.
func (s *mosqSub) next() mosqMsg {
	s.t.Helper()
	if len(s.pending) > 0 {
		m := s.pending[0]
		s.pending = s.pending[1:]
		return m
	}
	for {
		if m, ok := s.parse(s.mustLine("a message")); ok {
			return m
		}
	}
}

// messages returns the next n messages.
func (s *mosqSub) messages(n int) []mosqMsg {
	s.t.Helper()
	ms := make([]mosqMsg, n)
	for i := range ms {
		ms[i] = s.next()
	}
	return ms
}

// until returns the messages before the first one with topic and payload
// (which is consumed).
func (s *mosqSub) until(topic, payload string) []mosqMsg {
	s.t.Helper()
	var ms []mosqMsg
	for {
		m := s.next()
		if m.Topic == topic && m.Payload == payload {
			return ms
		}
		ms = append(ms, m)
	}
}

// mosqPub runs mosquitto_pub to completion; lines, if not nil, are sent
// with -l (one message per line, one connection).
func mosqPub(t testing.TB, b *broker, version string, lines []string, args ...string) {
	t.Helper()
	need(t, "mosquitto")
	var stdin io.Reader
	if lines != nil {
		stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
		args = append(args, "-l")
	}
	startProc(t, stdin, nil, "mosquitto_pub", mosqArgs(b, version, args...)...).runToEnd()
}

// TestMosquittoQoS: three mosquitto_sub at QoS 0, 1 and 2 on one filter,
// three mosquitto_pub publishing three messages each at QoS 0, 1 and 2:
// every subscriber gets every message once, at min(publish QoS,
// subscription QoS) [MQTT-3.8.4-6 / MQTT-3.8.4-8], in the order of each
// publisher [MQTT-4.6.0-6], with RETAIN and DUP clear.
func TestMosquittoQoS(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "")
	for _, ver := range mosqVersions {
		t.Run(ver, func(t *testing.T) {
			prefix := "mosq/" + ver + "/qos"
			subs := make([]*mosqSub, 3)
			for q := range subs {
				subs[q] = startMosqSub(t, b, ver, "-q", strconv.Itoa(q), "-t", prefix+"/#")
				if !slices.Equal(subs[q].granted, []int{q}) {
					t.Fatalf("subscription at QoS %d granted %v", q, subs[q].granted)
				}
			}
			for pq := range 3 {
				mosqPub(t, b, ver, payloads(fmt.Sprintf("p%d", pq), 3), "-q", strconv.Itoa(pq), "-t", fmt.Sprintf("%s/p%d", prefix, pq))
			}
			for sq, s := range subs {
				byTopic := map[string][]msgKey{}
				for _, m := range s.messages(9) {
					if m.Dup {
						t.Errorf("sub QoS %d: DUP set on a first delivery: %s", sq, m.raw)
					}
					if (m.QoS > 0) != (m.Mid != 0) {
						t.Errorf("sub QoS %d: packet id %d at QoS %d", sq, m.Mid, m.QoS)
					}
					byTopic[m.Topic] = append(byTopic[m.Topic], m.key())
				}
				for pq := range 3 {
					topic := fmt.Sprintf("%s/p%d", prefix, pq)
					var want []msgKey
					for _, p := range payloads(fmt.Sprintf("p%d", pq), 3) {
						want = append(want, msgKey{topic, p, min(pq, sq), false})
					}
					sameKeys(t, fmt.Sprintf("subscriber at QoS %d, publisher at QoS %d", sq, pq), byTopic[topic], want)
				}
			}
		})
	}
}

// TestMosquittoRetained: a retained message is stored, replaced, and
// deleted by an empty retained message [MQTT-3.3.1-5, -6, -10, -11]; a new
// subscription gets the stored ones with RETAIN set [MQTT-3.3.1-8], live
// subscribers get them with RETAIN clear [MQTT-3.3.1-9] (v5: Retain As
// Published is off), and the empty message is forwarded to them too.
//
// A new subscriber's retained messages are checked up to a marker published
// after its SUBACK: the broker sends retained messages before it forwards
// messages published after the subscription.
func TestMosquittoRetained(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "")
	for _, ver := range mosqVersions {
		t.Run(ver, func(t *testing.T) {
			prefix := "mosq/" + ver + "/ret"
			ta, tb, marker := prefix+"/a", prefix+"/b", prefix+"/marker"
			live := startMosqSub(t, b, ver, "-q", "1", "-t", prefix+"/#")
			// retainedNow subscribes anew and returns the retained messages it gets.
			retainedNow := func(step string) []msgKey {
				t.Helper()
				s := startMosqSub(t, b, ver, "-q", "1", "-t", prefix+"/#")
				mosqPub(t, b, ver, nil, "-q", "1", "-t", marker, "-m", step)
				var ks []msgKey
				for _, m := range s.until(marker, step) {
					ks = append(ks, m.key())
				}
				s.kill()
				if got := live.next(); got.key() != (msgKey{marker, step, 1, false}) {
					t.Fatalf("live subscriber: expected the marker %q, got %s", step, got.raw)
				}
				slices.SortFunc(ks, func(a, b msgKey) int { return strings.Compare(a.Topic, b.Topic) })
				return ks
			}
			expectLive := func(want msgKey) {
				t.Helper()
				m := live.next()
				if m.key() != want || m.PayloadLen != len(want.Payload) || m.Dup {
					t.Fatalf("live subscriber: got %s, want %v", m.raw, want)
				}
			}

			mosqPub(t, b, ver, nil, "-r", "-q", "1", "-t", ta, "-m", "v1")
			expectLive(msgKey{ta, "v1", 1, false})
			sameKeys(t, "after set", retainedNow("set"), []msgKey{{ta, "v1", 1, true}})

			mosqPub(t, b, ver, nil, "-r", "-q", "2", "-t", ta, "-m", "v2")
			expectLive(msgKey{ta, "v2", 1, false})
			mosqPub(t, b, ver, nil, "-r", "-q", "0", "-t", tb, "-m", "b1")
			expectLive(msgKey{tb, "b1", 0, false})
			sameKeys(t, "after replace", retainedNow("replace"), []msgKey{{ta, "v2", 1, true}, {tb, "b1", 0, true}})

			mosqPub(t, b, ver, nil, "-r", "-q", "1", "-t", ta, "-n")
			expectLive(msgKey{ta, "", 1, false})
			sameKeys(t, "after delete of "+ta, retainedNow("delete-a"), []msgKey{{tb, "b1", 0, true}})

			mosqPub(t, b, ver, nil, "-r", "-q", "0", "-t", tb, "-n")
			expectLive(msgKey{tb, "", 0, false})
			sameKeys(t, "after delete of "+tb, retainedNow("delete-b"), nil)
		})
	}
}

// TestMosquittoWill: the will of a client killed with SIGKILL is published
// [MQTT-3.1.2-8] at its QoS, with its retain flag (a new subscriber gets it
// retained) and, on v5, with its properties [MQTT-3.1.3-10 keeps user
// properties]; the will of a client that sent DISCONNECT is not
// [MQTT-3.1.2-10].
func TestMosquittoWill(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "")
	for _, ver := range mosqVersions {
		t.Run(ver, func(t *testing.T) {
			prefix := "mosq/" + ver + "/will"
			obs := startMosqSub(t, b, ver, "-q", "2", "-t", prefix+"/#")

			// A clean exit: mosquitto_sub -E sends DISCONNECT once subscribed.
			startProc(t, nil, nil, "mosquitto_sub", mosqArgs(b, ver, "-E", "-t", prefix+"/dummy",
				"--will-topic", prefix+"/w", "--will-payload", "after-disconnect", "--will-qos", "1")...).runToEnd()

			args := []string{"-t", prefix + "/dummy", "--will-topic", prefix + "/w", "--will-payload", "killed", "--will-qos", "1"}
			if ver == "mqttv5" {
				args = append(args, "-D", "will", "user-property", "origin", "interop",
					"-D", "will", "user-property", "kind", "sigkill",
					"-D", "will", "content-type", "text/plain")
			}
			victim := startMosqSub(t, b, ver, args...)
			victim.kill()

			m := obs.next()
			if m.Payload == "after-disconnect" {
				t.Fatalf("the will of a client that sent DISCONNECT was published [MQTT-3.1.2-10]: %s", m.raw)
			}
			if m.key() != (msgKey{prefix + "/w", "killed", 1, false}) || m.Dup {
				t.Fatalf("will: got %s, want %s \"killed\" at QoS 1", m.raw, prefix+"/w")
			}
			if ver == "mqttv5" {
				if m.UserProps != "origin:interop kind:sigkill" {
					t.Errorf("will user properties: got %q, want %q", m.UserProps, "origin:interop kind:sigkill")
				}
				if ct := m.Properties.ContentType; ct == nil || *ct != "text/plain" {
					t.Errorf("will content type: got %v, want text/plain: %s", ct, m.raw)
				}
			}

			// A retained will at QoS 2.
			victim = startMosqSub(t, b, ver, "-t", prefix+"/dummy", "--will-topic", prefix+"/wr",
				"--will-payload", "killed-retained", "--will-qos", "2", "--will-retain")
			victim.kill()
			if m := obs.next(); m.key() != (msgKey{prefix + "/wr", "killed-retained", 2, false}) {
				t.Fatalf("retained will, live subscriber: got %s", m.raw)
			}
			s := startMosqSub(t, b, ver, "-q", "2", "-t", prefix+"/wr")
			if m := s.next(); m.key() != (msgKey{prefix + "/wr", "killed-retained", 2, true}) {
				t.Fatalf("retained will, new subscriber: got %s", m.raw)
			}
		})
	}
}

// TestMosquittoV5Properties: payload format, message expiry (the remaining
// interval), content type, response topic, correlation data and user
// properties (in order, repeated keys kept [MQTT-3.3.2-17, -18]) reach a v5
// subscriber unchanged, on a live delivery and on a retained one; a v3.1.1
// subscriber gets the same payload.
func TestMosquittoV5Properties(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "")
	const topic = "mosq/props/x"
	sub5 := startMosqSub(t, b, "mqttv5", "-q", "1", "-t", topic)
	sub3 := startMosqSub(t, b, "mqttv311", "-q", "1", "-t", topic)
	mosqPub(t, b, "mqttv5", nil, "-q", "1", "-r", "-t", topic, "-m", `{"v":1}`,
		"-D", "publish", "user-property", "k1", "v1",
		"-D", "publish", "user-property", "k2", "v 2",
		"-D", "publish", "user-property", "k1", "v3",
		"-D", "publish", "content-type", "application/json",
		"-D", "publish", "response-topic", "mosq/props/reply",
		"-D", "publish", "correlation-data", "corr-42",
		"-D", "publish", "payload-format-indicator", "1",
		"-D", "publish", "message-expiry-interval", "120")

	check := func(what string, m mosqMsg, retain bool) {
		t.Helper()
		if m.key() != (msgKey{topic, `{"v":1}`, 1, retain}) {
			t.Fatalf("%s: got %s", what, m.raw)
		}
		if m.UserProps != "k1:v1 k2:v 2 k1:v3" {
			t.Errorf("%s: user properties %q, want %q (order and repeated keys kept)", what, m.UserProps, "k1:v1 k2:v 2 k1:v3")
		}
		p := m.Properties
		str := func(s *string) string {
			if s == nil {
				return "<absent>"
			}
			return *s
		}
		if str(p.ContentType) != "application/json" || str(p.ResponseTopic) != "mosq/props/reply" || str(p.Correlation) != "corr-42" {
			t.Errorf("%s: content type %s, response topic %s, correlation data %s: %s",
				what, str(p.ContentType), str(p.ResponseTopic), str(p.Correlation), m.raw)
		}
		if p.PayloadFormat == nil || *p.PayloadFormat != 1 {
			t.Errorf("%s: payload format indicator lost: %s", what, m.raw)
		}
		if p.MessageExpiry == nil || *p.MessageExpiry < 100 || *p.MessageExpiry > 120 {
			t.Errorf("%s: message expiry interval: want the remaining part of 120 s: %s", what, m.raw)
		}
	}
	check("live v5 subscriber", sub5.next(), false)
	if m := sub3.next(); m.key() != (msgKey{topic, `{"v":1}`, 1, false}) {
		t.Errorf("v3.1.1 subscriber: got %s", m.raw)
	}
	late := startMosqSub(t, b, "mqttv5", "-q", "1", "-t", topic)
	check("retained, new v5 subscriber", late.next(), true)
}

// TestMosquittoPersistentSession: mosquitto_sub -c subscribes at QoS 2 and
// leaves; QoS 1 and QoS 2 messages published while it is away are queued
// [MQTT-3.1.2-5] and arrive, in order and at their QoS, when it comes back
// with the same client id.
func TestMosquittoPersistentSession(t *testing.T) {
	t.Parallel()
	b := startBroker(t, "")
	for _, ver := range mosqVersions {
		t.Run(ver, func(t *testing.T) {
			topic := "mosq/" + ver + "/persist"
			id := "mosq-persist-" + ver
			startProc(t, nil, nil, "mosquitto_sub", mosqArgs(b, ver, "-c", "-i", id, "-q", "2", "-E", "-t", topic)...).runToEnd()

			mosqPub(t, b, ver, payloads("q1", 5), "-q", "1", "-t", topic)
			mosqPub(t, b, ver, payloads("q2", 5), "-q", "2", "-t", topic)

			s := startMosqSub(t, b, ver, "-c", "-i", id, "-q", "2", "-t", topic)
			byQoS := map[int][]string{}
			for _, m := range s.messages(10) {
				if m.Topic != topic || m.Retain != 0 || m.Dup {
					t.Errorf("unexpected message %s", m.raw)
				}
				byQoS[m.QoS] = append(byQoS[m.QoS], m.Payload)
			}
			if !slices.Equal(byQoS[1], payloads("q1", 5)) || !slices.Equal(byQoS[2], payloads("q2", 5)) || len(byQoS) != 2 {
				t.Fatalf("queued messages by QoS: got %v, want 1: %v, 2: %v", byQoS, payloads("q1", 5), payloads("q2", 5))
			}
		})
	}
}
