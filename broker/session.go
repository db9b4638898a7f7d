package broker

import (
	"sync"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/store"
	"github.com/mqttio/mqttio/broker/topic"
)

// neverExpire is the v5 session expiry value meaning "does not expire".
const neverExpire = 0xFFFFFFFF

// Outbound message states.
const (
	stateQueued  = 0 // waiting for the window or for the client to connect
	stateSent    = 1 // PUBLISH sent, awaiting PUBACK (QoS 1) or PUBREC (QoS 2)
	stateRelSent = 2 // PUBREL sent, awaiting PUBCOMP
)

// outMsg is one QoS 1/2 delivery to one session.
type outMsg struct {
	msg    *Message
	qos    byte
	retain bool
	ids    []uint32 // subscription identifiers to send with it
	pid    uint16
	state  byte
	seq    uint64                 // storage key suffix, 0 when not persisted
	group  *topic.Group[*session] // set when delivered through a shared subscription
}

// subscription is one filter of a session, with its options.
type subscription struct {
	filter string // without the $share prefix
	group  string
	opts   topic.Entry[*session]
}

// session is the MQTT session state of one client id. It outlives
// connections when persistent.
type session struct {
	srv *Server
	id  string

	mu         sync.Mutex
	client     *client // the connection attached now, nil when offline
	persistent bool    // kept after the connection closes
	expiry     uint32  // v5 Session Expiry Interval in seconds (neverExpire: never)
	subs       map[string]*subscription
	inflight   []*outMsg // sent, awaiting acknowledgement, in send order
	byPID      map[uint16]*outMsg
	queue      []*outMsg // waiting, in arrival order
	nextPID    uint16
	inQoS2     map[uint16]struct{} // inbound QoS 2 ids awaiting PUBREL
	seq        uint64
	epoch      uint64 // bumped on each attach; stale timers compare it
	offlineAt  int64  // unix nanos when the last connection closed
	will       *will  // the will of the last connection, while it may still fire
	destroyed  bool
	discarded  bool // a clean-start CONNECT replaced it; destroyed soon
	stored     bool // a session record exists in the store
}

func newSession(srv *Server, id string) *session {
	return &session{srv: srv, id: id, subs: make(map[string]*subscription), byPID: make(map[uint16]*outMsg)}
}

// window is how many QoS 1/2 messages may be in flight to the client now;
// s.mu must be held.
func (s *session) windowLocked() int {
	c := s.client
	if c == nil {
		return 0
	}
	return min(s.srv.opts.MaxInflight, c.recvMax)
}

// nextFreePID returns an unused packet identifier [MQTT-2.2.1-3]; s.mu
// must be held and the inflight count must be below 65535.
func (s *session) nextFreePIDLocked() uint16 {
	for {
		s.nextPID++
		if s.nextPID == 0 {
			s.nextPID = 1
		}
		if _, used := s.byPID[s.nextPID]; !used {
			return s.nextPID
		}
	}
}

// deliver hands one message to the session; s.mu must not be held. ops
// collects the store writes the caller must wait for before acknowledging
// the publisher; the session issues its own writes in order under s.mu.
func (s *session) deliver(m *Message, qos byte, retain bool, ids []uint32, group *topic.Group[*session]) (persisted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return false
	}
	c := s.client
	if c != nil && !c.fits(m, qos, ids) {
		// [MQTT-3.1.2-25]: too big for this client; behave as delivered.
		s.srv.stats.dropped.Add(1)
		return false
	}
	if qos == 0 {
		if c != nil {
			c.writePublish(m, 0, retain, 0, false, ids)
		}
		return false
	}
	if c == nil && !s.persistent {
		return false
	}
	om := &outMsg{msg: m, qos: qos, retain: retain, group: group}
	if len(ids) > 0 {
		om.ids = append([]uint32(nil), ids...)
	}
	if c != nil && len(s.inflight) < s.windowLocked() && len(s.queue) == 0 {
		s.assignLocked(om)
		persisted = s.persistLocked(om)
		c.writePublish(m, qos, retain, om.pid, false, om.ids)
		return persisted
	}
	if len(s.queue) >= s.srv.opts.MaxQueuedMessages {
		s.srv.stats.dropped.Add(1)
		if s.srv.opts.QueueDropNewest {
			return false
		}
		old := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.unpersistLocked(old)
	}
	s.queue = append(s.queue, om)
	persisted = s.persistLocked(om)
	s.fillWindowLocked()
	return persisted
}

// assignLocked makes om inflight with a fresh packet id.
func (s *session) assignLocked(om *outMsg) {
	om.pid = s.nextFreePIDLocked()
	om.state = stateSent
	s.inflight = append(s.inflight, om)
	s.byPID[om.pid] = om
}

// fillWindowLocked moves queued messages into flight while the window
// allows and the client is connected.
func (s *session) fillWindowLocked() {
	c := s.client
	if c == nil {
		return
	}
	now := nowNanos()
	for len(s.queue) > 0 && len(s.inflight) < s.windowLocked() {
		om := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if om.msg.Expiry != 0 && om.msg.Expiry <= now {
			// [MQTT-3.3.2-5]: an expired message is not delivered.
			s.unpersistLocked(om)
			continue
		}
		if !c.fits(om.msg, om.qos, om.ids) {
			s.unpersistLocked(om)
			continue
		}
		if a := s.srv.opts.Auth; a != nil && !a.Authorize(&c.info, ActionReceive, om.msg.Topic) {
			// Queued while offline, when route could not ask for this
			// client (see mayReceive): it may not receive it.
			s.unpersistLocked(om)
			continue
		}
		s.assignLocked(om)
		if om.seq != 0 {
			s.putLocked(om) // record the packet id for redelivery after a restart
		}
		c.writePublish(om.msg, om.qos, om.retain, om.pid, false, om.ids)
	}
	if len(s.queue) == 0 && cap(s.queue) > 64 {
		s.queue = nil
	}
}

// ack handles PUBACK (QoS 1) and PUBCOMP (QoS 2) from the client.
func (s *session) complete(pid uint16, want byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	om, ok := s.byPID[pid]
	if !ok || om.state != want {
		return false
	}
	s.removeInflightLocked(om)
	s.unpersistLocked(om)
	s.fillWindowLocked()
	return true
}

// received handles PUBREC: the message is now the client's; we answer
// PUBREL and wait for PUBCOMP.
func (s *session) received(pid uint16, failed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	om, ok := s.byPID[pid]
	if !ok || om.state != stateSent || om.qos != 2 {
		return false
	}
	if failed {
		// v5: a PUBREC with an error code ends the exchange [MQTT-4.3.3-?].
		s.removeInflightLocked(om)
		s.unpersistLocked(om)
		s.fillWindowLocked()
		return true
	}
	om.state = stateRelSent
	om.msg = &Message{Topic: om.msg.Topic} // the payload is no longer needed
	if om.seq != 0 {
		s.putLocked(om)
	}
	return true
}

func (s *session) removeInflightLocked(om *outMsg) {
	delete(s.byPID, om.pid)
	for i, x := range s.inflight {
		if x == om {
			copy(s.inflight[i:], s.inflight[i+1:])
			s.inflight[len(s.inflight)-1] = nil
			s.inflight = s.inflight[:len(s.inflight)-1]
			break
		}
	}
}

// resendLocked re-sends every unacknowledged message and PUBREL in their
// original order with their original packet ids [MQTT-4.4.0-1], then fills
// the window from the queue.
func (s *session) resendLocked() {
	c := s.client
	for _, om := range s.inflight {
		switch om.state {
		case stateSent:
			// DUP marks a re-delivery [MQTT-3.3.1-1].
			c.writePublish(om.msg, om.qos, om.retain, om.pid, true, om.ids)
		case stateRelSent:
			pid := om.pid
			c.send(func(b []byte) []byte {
				return packet.AppendAck(b, c.version, &packet.Ack{Type: packet.PUBREL, PacketID: pid})
			})
		}
	}
	s.fillWindowLocked()
}

// persistLocked writes om when the session is persistent and a store is
// configured, and reports whether it did.
func (s *session) persistLocked(om *outMsg) bool {
	if !s.persistent || s.srv.opts.Store == nil {
		return false
	}
	s.seq++
	om.seq = s.seq
	s.putLocked(om)
	return true
}

func (s *session) putLocked(om *outMsg) {
	s.srv.opts.Store.Commit([]store.Op{{
		Kind: store.Put, Bucket: bucketQueue, Key: queueKey(s.id, om.seq), Value: encodeOutMsg(om),
	}}, nil)
}

func (s *session) unpersistLocked(om *outMsg) {
	if om.seq == 0 || s.srv.opts.Store == nil {
		return
	}
	s.srv.opts.Store.Commit([]store.Op{{Kind: store.Delete, Bucket: bucketQueue, Key: queueKey(s.id, om.seq)}}, nil)
	om.seq = 0
}

// online reports whether a connection is attached.
func (s *session) online() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client != nil
}
