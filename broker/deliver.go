package broker

import (
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/topic"
)

// router is the scratch space of one routing goroutine: reused between
// messages so that routing a message to existing subscribers allocates
// nothing at QoS 0.
type router struct {
	entries []topic.Entry[*session]
	groups  []*topic.Group[*session]
	targets []target
	index   map[*session]int
	msg     Message // the message being routed, when it may alias a read buffer

	// forwarded is set while routing a message from another cluster node:
	// fwd then says which subscriptions it was sent for (cluster.go).
	forwarded bool
	fwd       Delivery
}

// target is one session a message goes to, after merging overlapping
// subscriptions: one delivery at the highest granted QoS, carrying every
// matching subscription identifier.
type target struct {
	s      *session
	qos    byte
	retain bool
	ids    []uint32
	group  *topic.Group[*session]
}

var routers = sync.Pool{New: func() any { return newRouter() }}

func newRouter() *router { return &router{index: make(map[*session]int)} }

// route delivers m to every matching local subscriber and reports whether a
// store write was issued (the publisher's acknowledgement must then wait for
// the commit). origin is the publishing client id for no-local.
func (srv *Server) route(r *router, m *Message) (persisted bool) {
	r.entries, r.groups = srv.subs.Match(bytesOf(m.Topic), r.entries[:0], r.groups[:0])
	if r.forwarded {
		r.restrictForwarded()
	}
	r.targets = r.targets[:0]
	clear(r.index)
	for i := range r.entries {
		e := &r.entries[i]
		if e.NoLocal && m.Origin != "" && e.Sub.id == m.Origin {
			// [MQTT-3.8.3-3]: not to the connection that published it,
			// that is to its client id, on whichever node it published.
			continue
		}
		// Retain As Published [MQTT-3.3.1-12]/[MQTT-3.3.1-13].
		retain := m.Retain && e.RetainAsPublished
		qos := min(m.QoS, e.QoS)
		if j, ok := r.index[e.Sub]; ok {
			t := &r.targets[j]
			t.qos = max(t.qos, qos)
			t.retain = t.retain || retain
			if e.ID != 0 {
				t.ids = append(t.ids, e.ID)
			}
			continue
		}
		r.index[e.Sub] = len(r.targets)
		r.targets = appendTarget(r.targets, e.Sub, qos, retain, e.ID, nil)
	}
	for _, g := range r.groups {
		// One member of each shared group, preferring a connected one
		// [MQTT-4.8.2-3]; an offline persistent member queues it.
		e, ok := g.Pick(func(s *session) bool { return s.online() })
		if !ok {
			e, ok = g.Pick(func(*session) bool { return true })
		}
		if !ok {
			continue
		}
		r.targets = appendTarget(r.targets, e.Sub, min(m.QoS, e.QoS), false, e.ID, g)
	}
	auth := srv.opts.Auth
	for i := range r.targets {
		t := &r.targets[i]
		if auth != nil && !t.s.mayReceive(auth, m.Topic) {
			continue
		}
		if t.s.deliver(m, t.qos, t.retain, t.ids, t.group) {
			persisted = true
		}
	}
	srv.stats.delivered.Add(int64(len(r.targets)))
	return persisted
}

func appendTarget(ts []target, s *session, qos byte, retain bool, id uint32, g *topic.Group[*session]) []target {
	if len(ts) < cap(ts) {
		ts = ts[:len(ts)+1]
		t := &ts[len(ts)-1]
		t.s, t.qos, t.retain, t.group = s, qos, retain, g
		t.ids = t.ids[:0]
	} else {
		ts = append(ts, target{s: s, qos: qos, retain: retain, group: g})
	}
	if id != 0 {
		t := &ts[len(ts)-1]
		t.ids = append(t.ids, id)
	}
	return ts
}

// mayReceive asks the Authorizer whether the session's client may receive
// a message on topicName.
func (s *session) mayReceive(auth Authorizer, topicName string) bool {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return true // checked again when the client is back: its identity may change
	}
	return auth.Authorize(&c.info, ActionReceive, topicName)
}

// bytesOf views s as a byte slice without copying. The slice must not be
// modified; the codec and the trie only read it.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func nowNanos() int64 { return time.Now().UnixNano() }

// fits reports whether a PUBLISH of m would respect the client's Maximum
// Packet Size [MQTT-3.1.2-24]. Aliases only make a packet smaller.
func (c *client) fits(m *Message, qos byte, ids []uint32) bool {
	if c.maxPacket == 0 {
		return true
	}
	var p packet.Publish
	c.fillPublish(&p, m, qos, false, 0, false, ids, 0)
	return packet.PublishSize(c.version, &p) <= c.maxPacket
}

// fillPublish prepares the outbound PUBLISH of m for this client.
func (c *client) fillPublish(p *packet.Publish, m *Message, qos byte, retain bool, pid uint16, dup bool, ids []uint32, alias uint16) {
	p.Dup, p.QoS, p.Retain, p.PacketID = dup, qos, retain, pid
	p.Topic = bytesOf(m.Topic)
	p.Payload = m.Payload
	p.Properties = packet.Properties{}
	if c.version != packet.V5 {
		return
	}
	pr := &p.Properties
	if src := m.Props; src != nil {
		// Forwarded unchanged [MQTT-3.3.2-4], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-17].
		pr.Has = src.Has & hasForwarded
		pr.PayloadFormat = src.PayloadFormat
		pr.ContentType = src.ContentType
		pr.ResponseTopic = src.ResponseTopic
		pr.CorrelationData = src.CorrelationData
		pr.UserProperties = src.UserProperties
	}
	if m.Expiry != 0 {
		// The remaining lifetime, not the original interval [MQTT-3.3.2-6].
		left := (m.Expiry - nowNanos() + int64(time.Second) - 1) / int64(time.Second)
		pr.Has |= packet.HasMessageExpiry
		pr.MessageExpiry = uint32(max(left, 1))
	}
	pr.SubscriptionIDs = ids
	if alias != 0 {
		pr.Has |= packet.HasTopicAlias
		pr.TopicAlias = alias
	}
}

// hasForwarded are the presence bits of the publish properties a broker
// passes through.
const hasForwarded = packet.HasPayloadFormat

// writePublish encodes one PUBLISH into the outbound buffer, choosing an
// outbound topic alias when the client allows them. Callers hold the
// session lock, which orders deliveries of one session.
func (c *client) writePublish(m *Message, qos byte, retain bool, pid uint16, dup bool, ids []uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return
	}
	if qos == 0 && c.outLenLocked() > maxOutBuffer {
		// A subscriber that does not keep up loses QoS 0 messages rather
		// than growing our memory.
		c.srv.stats.dropped.Add(1)
		return
	}
	var alias uint16
	sendTopic := true
	if c.aliasMax > 0 {
		if a, ok := c.outAliases[m.Topic]; ok {
			alias, sendTopic = a, false
		} else if c.nextAlias < c.aliasMax {
			if c.outAliases == nil {
				c.outAliases = make(map[string]uint16)
			}
			c.nextAlias++
			alias = c.nextAlias
			// The topic may alias a read buffer: the map keeps a copy.
			c.outAliases[strings.Clone(m.Topic)] = alias
		}
	}
	var p packet.Publish
	c.fillPublish(&p, m, qos, retain, pid, dup, ids, alias)
	if !sendTopic {
		p.Topic = nil // the alias stands for it [MQTT-3.3.2-12]
	}
	if c.out == nil {
		c.out = outBufs.Get().(*[]byte)
	}
	n := len(*c.out)
	*c.out = packet.AppendPublish(*c.out, c.version, &p)
	c.srv.stats.bytesOut.Add(int64(len(*c.out) - n))
	c.srv.stats.msgsOut.Add(1)
	c.kickLocked()
}
