package broker

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/store"
	"github.com/mqttio/mqttio/broker/topic"
)

// pendingAck is an acknowledgement waiting for the store commit of its
// message and/or the cluster's commit of its retained change (or queued
// behind one that is), so that acks leave in the order the publishes
// arrived [MQTT-4.6.0-2] and only after the message is durable.
type pendingAck struct {
	ack   packet.Ack
	id    uint64 // names it to the commit callbacks
	waits uint8  // commits still awaited: 0 is ready
	qos1  bool   // completes a QoS 1 exchange: frees a receive-maximum slot
}

// ackIDs numbers pending acks (unique across clients).
var ackIDs atomic.Uint64

// replWait joins a retained change handed to the cluster to the
// acknowledgement of its publish, which is queued after the hand-over: the
// cluster's verdict may come before or after the ack is queued.
type replWait struct {
	mu   sync.Mutex
	done bool
	err  error
	fn   func(error)
}

// complete records the cluster's verdict (RetainedReplicator's done).
func (w *replWait) complete(err error) {
	w.mu.Lock()
	if w.fn == nil {
		w.done, w.err = true, err
		w.mu.Unlock()
		return
	}
	fn := w.fn
	w.mu.Unlock()
	fn(err)
}

// then calls fn with the verdict, at once if it is in.
func (w *replWait) then(fn func(error)) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		fn(w.err)
		return
	}
	w.fn = fn
	w.mu.Unlock()
}

// handlePublish processes an inbound PUBLISH [MQTT-3.3].
func (c *client) handlePublish(flags byte, body []byte) error {
	p := &c.pkt.publish
	if err := packet.DecodePublish(c.version, flags, body, p); err != nil {
		return err
	}
	srv := c.srv
	opts := &srv.opts
	if int(p.QoS) > opts.MaxQoS {
		return packet.QoSNotSupported // [MQTT-3.2.2-11]
	}
	if p.Retain && !opts.retainAvailable() {
		return packet.RetainNotSupported // [MQTT-3.2.2-14]
	}
	if len(p.Properties.SubscriptionIDs) > 0 {
		// [MQTT-3.3.4-6]: only the server sends Subscription Identifiers.
		return errProtocol("subscription identifier in PUBLISH")
	}
	name := p.Topic
	if c.version == packet.V5 && len(name) == 0 && p.Properties.Has&packet.HasTopicAlias == 0 {
		// [MQTT-3.3.2.3.4]: an empty topic needs a Topic Alias.
		return errProtocol("empty topic name without topic alias")
	}
	if c.version == packet.V5 && p.Properties.Has&packet.HasTopicAlias != 0 {
		a := p.Properties.TopicAlias
		if a == 0 || int(a) > opts.TopicAliasMaximum {
			return packet.TopicAliasInvalid // [MQTT-3.3.2-8], [MQTT-3.3.2-9]
		}
		if len(name) == 0 {
			known, ok := c.inAliases[a]
			if !ok {
				return errProtocol("unknown topic alias")
			}
			name = bytesOf(known)
		} else {
			if c.inAliases == nil {
				c.inAliases = make(map[uint16]string)
			}
			c.inAliases[a] = string(name)
		}
	}
	if err := topic.ValidateTopicName(name, opts.MaxTopicLevels); err != nil {
		return packet.TopicNameInvalid // [MQTT-3.3.2-1], [MQTT-4.7.3-1]
	}
	if c.version == packet.V5 {
		if rt := p.Properties.ResponseTopic; rt != nil && topic.ValidateTopicName(rt, opts.MaxTopicLevels) != nil {
			// [MQTT-3.3.2-14]: the Response Topic is a topic name.
			return errProtocol("response topic is not a valid topic name")
		}
	}
	srv.stats.msgsIn.Add(1)
	srv.stats.bytesIn.Add(int64(len(body)))
	if c.limits != nil {
		if err := c.throttle(len(body)); err != nil {
			return err
		}
	}

	if p.QoS > 0 {
		if c.inflightIn.Load() >= int32(opts.ReceiveMaximum) && c.version == packet.V5 {
			return packet.ReceiveMaximumExceeded // [MQTT-3.3.4-9]
		}
		if p.QoS == 2 && c.sess.hasInbound(p.PacketID) {
			// A re-sent QoS 2 PUBLISH we already own: acknowledge again,
			// deliver nothing [MQTT-4.3.3-9].
			c.sendAck(packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID}, false, false)
			return nil
		}
	}

	rc := packet.Success
	switch {
	case opts.Auth != nil && !opts.Auth.Authorize(&c.info, ActionPublish, unsafeString(name)):
		rc = packet.NotAuthorized
		srv.stats.denied.Add(1)
	case c.version == packet.V5 && p.Properties.Has&packet.HasPayloadFormat != 0 &&
		p.Properties.PayloadFormat == 1 && !utf8.Valid(p.Payload):
		rc = packet.PayloadFormatInvalid // [MQTT-3.3.2-4] lets us check
	}

	persisted := false
	var repl *replWait // the cluster's commit of a retained change
	if rc == packet.Success {
		r := c.router()
		m := &r.msg
		*m = Message{Topic: unsafeString(name), Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Origin: c.id}
		if c.version == packet.V5 {
			m.Props = &p.Properties
			if p.Properties.Has&packet.HasMessageExpiry != 0 {
				m.Expiry = nowNanos() + int64(p.Properties.MessageExpiry)*int64(time.Second)
			}
		}
		if p.QoS > 0 || p.Retain || srv.opts.Cluster != nil {
			// Somebody keeps this message beyond this call: copy it out of
			// the read buffer. QoS 0 without retain is routed in place.
			m = m.durable()
		}
		if m.Retain {
			persisted, repl = srv.retainFor(m, p.QoS > 0)
		}
		persisted = srv.route(r, m) || persisted
		matched := len(r.targets)
		if cl := srv.opts.Cluster; cl != nil {
			matched += cl.Forward(m)
		}
		if matched == 0 && c.version == packet.V5 && p.QoS > 0 {
			rc = packet.NoMatchingSubscribers
		}
	}

	switch p.QoS {
	case 1:
		c.inflightIn.Add(1)
		c.queueAck(packet.Ack{Type: packet.PUBACK, PacketID: p.PacketID, ReasonCode: c.ackCode(rc)}, persisted, repl, true)
	case 2:
		if rc.IsError() {
			// A failed QoS 2 exchange ends with the PUBREC [MQTT-4.3.3-?].
			c.sendAck(packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID, ReasonCode: c.ackCode(rc)}, persisted, false)
			return nil
		}
		c.inflightIn.Add(1)
		if c.sess.addInbound(p.PacketID) {
			persisted = true
		}
		c.queueAck(packet.Ack{Type: packet.PUBREC, PacketID: p.PacketID, ReasonCode: c.ackCode(rc)}, persisted, repl, false)
	}
	return nil
}

// ackCode hides v5 reason codes from v3 clients, whose acks carry none
// (a refused v3 publish is acknowledged and dropped).
func (c *client) ackCode(rc packet.ReasonCode) packet.ReasonCode {
	if c.version != packet.V5 {
		return packet.Success
	}
	return rc
}

// router returns this client's routing scratch space.
func (c *client) router() *router {
	if c.scratch == nil {
		c.scratch = newRouter()
	}
	return c.scratch
}

// durable copies m out of any read buffer it aliases.
func (m *Message) durable() *Message {
	n := &Message{
		Topic:      strings.Clone(m.Topic),
		Payload:    clone(m.Payload),
		QoS:        m.QoS,
		Retain:     m.Retain,
		Expiry:     m.Expiry,
		Origin:     m.Origin,
		OriginNode: m.OriginNode,
	}
	if m.Props != nil {
		n.Props = cloneForwarded(m.Props)
	}
	return n
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// retain stores or clears the retained message of m's topic [MQTT-3.3.1-5]
// and reports whether a store write was issued. In a cluster that
// replicates retained messages it proposes the change instead.
func (srv *Server) retain(m *Message) bool {
	persisted, _ := srv.retainFor(m, false)
	return persisted
}

// retainFor is retain for a client's publish: when the cluster replicates
// retained messages, the change goes to it (not to the index or store),
// and with wait the returned replWait completes at its commit.
func (srv *Server) retainFor(m *Message, wait bool) (persisted bool, repl *replWait) {
	if rr, ok := srv.opts.Cluster.(RetainedReplicator); ok && !srv.expiredRetainedDrop(m) {
		var done func(error)
		if wait {
			repl = &replWait{}
			done = repl.complete
		}
		if rr.ReplicateRetained(m, done) {
			return false, repl
		}
		repl = nil
	}
	return srv.retainLocal(m), nil
}

// expiredRetainedDrop recognises the sweeper's removal of an expired
// retained message (broker-generated, empty, for a topic whose message has
// expired): it stays local, the cluster expires its replicated copy.
func (srv *Server) expiredRetainedDrop(m *Message) bool {
	if m.Origin != "" || len(m.Payload) != 0 {
		return false
	}
	old, ok := srv.retained.Get(m.Topic)
	return ok && old.Expiry != 0 && old.Expiry <= nowNanos()
}

// retainLocal stores or clears the retained message of m's topic in this
// node's index and store.
func (srv *Server) retainLocal(m *Message) bool {
	st := srv.opts.Store
	if len(m.Payload) == 0 {
		// [MQTT-3.3.1-6], [MQTT-3.3.1-7]: an empty payload removes it.
		srv.retained.Delete(m.Topic)
		if st != nil {
			st.Commit([]store.Op{{Kind: store.Delete, Bucket: bucketRetained, Key: []byte(m.Topic)}}, nil)
		}
		return st != nil
	}
	srv.retained.Set(m.Topic, m)
	if st != nil {
		st.Commit([]store.Op{{Kind: store.Put, Bucket: bucketRetained, Key: []byte(m.Topic), Value: encodeMessage(nil, m)}}, nil)
	}
	return st != nil
}

// sendAck queues an acknowledgement. When waitStore is set it leaves only
// after everything this goroutine gave the store so far is durable; any ack
// behind a waiting one waits too, to keep the order.
func (c *client) sendAck(a packet.Ack, waitStore, qos1 bool) {
	c.queueAck(a, waitStore, nil, qos1)
}

// queueAck is sendAck that may also wait for the cluster's commit of a
// retained change (repl).
func (c *client) queueAck(a packet.Ack, waitStore bool, repl *replWait, qos1 bool) {
	var waits uint8
	if waitStore {
		waits++
	}
	if repl != nil {
		waits++
	}
	c.wmu.Lock()
	if waits == 0 && len(c.acks) == 0 {
		c.appendAckLocked(&a)
		c.wmu.Unlock()
		if qos1 {
			c.inflightIn.Add(-1)
		}
		return
	}
	id := ackIDs.Add(1)
	c.acks = append(c.acks, pendingAck{ack: a, id: id, waits: waits, qos1: qos1})
	c.wmu.Unlock()
	if waitStore {
		c.srv.opts.Store.Commit(nil, func(err error) { c.ackDurable(id, err) })
	}
	if repl != nil {
		repl.then(func(err error) { c.ackReplicated(id, err) })
	}
}

// ackReplicated runs when the cluster committed (or failed to commit) the
// retained change of the publish whose ack is id.
func (c *client) ackReplicated(id uint64, err error) {
	if err != nil {
		c.srv.log.Warn("retained message not replicated; disconnecting publisher without acknowledging",
			"client", c.id, "err", err)
		c.disconnect(packet.ImplementationSpecificError)
		return
	}
	c.ackDurable(id, nil)
}

// ackDurable runs on the store's goroutine once ack id's message is on
// disk (or when the cluster committed its retained change): when that was
// its last wait, it releases that ack and every ready one behind it.
func (c *client) ackDurable(id uint64, err error) {
	if err != nil {
		c.srv.log.Error("store commit failed; disconnecting publisher", "client", c.id, "err", err)
		c.disconnect(packet.ImplementationSpecificError)
		return
	}
	c.wmu.Lock()
	for i := range c.acks {
		if c.acks[i].id == id {
			if c.acks[i].waits > 0 {
				c.acks[i].waits--
			}
			break
		}
	}
	n := 0
	var freed int32
	for n < len(c.acks) && c.acks[n].waits == 0 {
		a := &c.acks[n]
		c.appendAckLocked(&a.ack)
		if a.qos1 {
			freed++
		}
		n++
	}
	c.acks = append(c.acks[:0], c.acks[n:]...)
	c.wmu.Unlock()
	c.inflightIn.Add(-freed)
}

// handleAck handles PUBACK, PUBREC, PUBREL and PUBCOMP.
func (c *client) handleAck(t packet.Type, flags byte, body []byte) error {
	a := &c.pkt.ack
	if err := packet.DecodeAck(c.version, t, flags, body, a); err != nil {
		return err
	}
	s := c.sess
	switch t {
	case packet.PUBACK:
		s.complete(a.PacketID, stateSent)
	case packet.PUBCOMP:
		s.complete(a.PacketID, stateRelSent)
	case packet.PUBREC:
		if s.received(a.PacketID, a.ReasonCode.IsError()) {
			if !a.ReasonCode.IsError() {
				c.send(func(b []byte) []byte {
					return packet.AppendAck(b, c.version, &packet.Ack{Type: packet.PUBREL, PacketID: a.PacketID})
				})
			}
		} else if c.version == packet.V5 {
			pid := a.PacketID
			c.send(func(b []byte) []byte {
				return packet.AppendAck(b, c.version, &packet.Ack{Type: packet.PUBREL, PacketID: pid, ReasonCode: packet.PacketIdentifierNotFound})
			})
		}
	case packet.PUBREL:
		// [MQTT-4.3.3-11]: release the message id, answer PUBCOMP.
		rc := packet.Success
		if s.releaseInbound(a.PacketID) {
			c.inflightIn.Add(-1)
		} else if c.version == packet.V5 {
			rc = packet.PacketIdentifierNotFound
		}
		c.sendAck(packet.Ack{Type: packet.PUBCOMP, PacketID: a.PacketID, ReasonCode: rc}, false, false)
	}
	return nil
}

func (s *session) hasInbound(pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inQoS2[pid]
	return ok
}

// addInbound records an inbound QoS 2 packet id awaiting PUBREL and reports
// whether it issued a store write.
func (s *session) addInbound(pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inQoS2 == nil {
		s.inQoS2 = make(map[uint16]struct{})
	}
	s.inQoS2[pid] = struct{}{}
	if !s.persistent || s.srv.opts.Store == nil {
		return false
	}
	s.srv.opts.Store.Commit([]store.Op{{Kind: store.Put, Bucket: bucketQoS2, Key: qos2Key(s.id, pid)}}, nil)
	return true
}

func (s *session) releaseInbound(pid uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inQoS2[pid]; !ok {
		return false
	}
	delete(s.inQoS2, pid)
	if s.persistent && s.srv.opts.Store != nil {
		s.srv.opts.Store.Commit([]store.Op{{Kind: store.Delete, Bucket: bucketQoS2, Key: qos2Key(s.id, pid)}}, nil)
	}
	return true
}
