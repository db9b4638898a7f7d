package broker

import (
	"time"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/store"
)

// destroySession ends a session: its subscriptions leave the trie and its
// stored state is deleted. With epoch != 0 it does nothing when a
// connection attached since (the session's epoch moved on). It reports
// whether it ended the session.
func (srv *Server) destroySession(s *session, epoch uint64) bool {
	srv.mu.Lock()
	s.mu.Lock()
	if s.destroyed || (epoch != 0 && (s.epoch != epoch || s.client != nil)) {
		s.mu.Unlock()
		srv.mu.Unlock()
		return false
	}
	s.destroyed = true
	if srv.sessions[s.id] == s {
		delete(srv.sessions, s.id)
	}
	subs := s.subs
	s.subs = make(map[string]*subscription)
	pendingWill := s.will
	s.will = nil
	s.inflight, s.queue, s.byPID = nil, nil, make(map[uint16]*outMsg)
	s.mu.Unlock()
	srv.mu.Unlock()

	for _, sub := range subs {
		srv.removeRoute(s, sub)
	}
	if srv.opts.Store != nil {
		prefix := sessionPrefix(s.id)
		srv.opts.Store.Commit([]store.Op{
			{Kind: store.Delete, Bucket: bucketSessions, Key: []byte(s.id)},
			{Kind: store.DeletePrefix, Bucket: bucketQueue, Key: prefix},
			{Kind: store.DeletePrefix, Bucket: bucketQoS2, Key: prefix},
		}, nil)
	}
	if pendingWill != nil {
		// The session ended before the will delay did [MQTT-3.1.3-9].
		srv.publishWill(ClientInfo{ClientID: s.id}, pendingWill)
	}
	return true
}

// expireSession runs when an offline session's expiry interval elapsed
// [MQTT-3.1.2-23].
func (srv *Server) expireSession(s *session, epoch uint64) {
	if srv.destroySession(s, epoch) {
		srv.stats.expired.Add(1)
	}
}

// willDelayElapsed publishes a delayed will unless the client came back.
func (srv *Server) willDelayElapsed(s *session, epoch uint64, info ClientInfo) {
	s.mu.Lock()
	w := s.will
	if s.epoch != epoch || s.client != nil || w == nil {
		s.mu.Unlock()
		return
	}
	s.will = nil
	s.mu.Unlock()
	srv.publishWill(info, w)
}

// publishWill publishes a will message as if the client had sent it.
func (srv *Server) publishWill(info ClientInfo, w *will) {
	m := *w.msg
	if m.Expiry < 0 {
		// The Message Expiry Interval counts from publication.
		m.Expiry = nowNanos() + -m.Expiry*int64(time.Second)
	}
	if a := srv.opts.Auth; a != nil && !a.Authorize(&info, ActionPublish, m.Topic) {
		srv.log.Info("will not authorized", "client", info.ClientID, "topic", m.Topic)
		return
	}
	srv.stats.willsSent.Add(1)
	srv.Publish(&m)
}

// Publish publishes a message originating in this broker (wills, $SYS,
// the admin API): it is retained if asked, routed to local subscribers and
// forwarded to the cluster.
func (srv *Server) Publish(m *Message) {
	r := routers.Get().(*router)
	if m.Retain {
		srv.retain(m)
	}
	srv.route(r, m)
	routers.Put(r)
	if cl := srv.opts.Cluster; cl != nil {
		cl.Forward(m)
	}
}

// Deliver routes a message that arrived from another cluster node to the
// local subscribers only.
func (srv *Server) Deliver(m *Message) {
	r := routers.Get().(*router)
	srv.route(r, m)
	routers.Put(r)
}

// takeSharedLocked removes the messages a departing connection received
// through shared subscriptions and has not acknowledged, so they can go to
// another member of the group. QoS 2 messages already sent stay: their
// delivery must complete with this client [MQTT-4.8.2-4].
func (s *session) takeSharedLocked() []*outMsg {
	var out []*outMsg
	keep := s.inflight[:0]
	for _, om := range s.inflight {
		if om.group != nil && om.qos == 1 {
			delete(s.byPID, om.pid)
			s.unpersistLocked(om)
			out = append(out, om)
			continue
		}
		keep = append(keep, om)
	}
	clear(s.inflight[len(keep):])
	s.inflight = keep
	q := s.queue[:0]
	for _, om := range s.queue {
		if om.group != nil {
			s.unpersistLocked(om)
			out = append(out, om)
			continue
		}
		q = append(q, om)
	}
	clear(s.queue[len(q):])
	s.queue = q
	return out
}

// redispatch hands a shared-subscription message that its first receiver
// did not acknowledge to another member of the group.
func (srv *Server) redispatch(om *outMsg, from *session) {
	g := om.group
	e, ok := g.Pick(func(s *session) bool { return s != from && s.online() })
	if !ok {
		e, ok = g.Pick(func(s *session) bool { return s != from })
	}
	if !ok {
		srv.stats.dropped.Add(1)
		return
	}
	srv.stats.redispatched.Add(1)
	e.Sub.deliver(om.msg, min(om.msg.QoS, e.QoS), false, nil, g)
}

// DisconnectClient closes the connection of client id, sending a v5 client
// DISCONNECT with rc first (0x98 Administrative action, for the admin API).
// It reports whether the client was connected.
func (srv *Server) DisconnectClient(id string, rc packet.ReasonCode) bool {
	s := srv.lookupSession(id)
	if s == nil {
		return false
	}
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return false
	}
	c.disconnect(rc)
	return true
}
