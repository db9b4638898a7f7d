package broker

// Read-only views of the server for the admin API and the metrics endpoint.
// Nothing here is on the publish path. Each view is built from a snapshot of
// the registries taken under Server.mu, which is released before any
// session.mu is taken (one at a time), so these calls never hold two locks
// and never block a connection for longer than one session's copy. The
// views are copies: callers may keep and change them.

import (
	"iter"
	"sort"
	"time"

	"github.com/mqttio/mqttio/broker/store"
	"github.com/mqttio/mqttio/broker/topic"
)

// ClientView describes one connected client.
type ClientView struct {
	ClientID        string
	Username        string // as sent in CONNECT
	CommonName      string // verified client-certificate CN, "" otherwise
	RemoteAddr      string
	Transport       string // "tcp", "tls", "ws", ...
	ProtocolVersion int    // 3 (MQTT 3.1), 4 (3.1.1) or 5
	ConnectedAt     time.Time
	KeepAlive       time.Duration // 0: none
	Persistent      bool          // the session outlives the connection
	Subscriptions   int
	Inflight        int // QoS 1/2 messages sent, not yet acknowledged
	Queued          int // messages waiting for the inflight window
}

// SessionView describes one session, connected or not.
type SessionView struct {
	ClientID   string
	Connected  bool
	Persistent bool
	// ExpiryInterval is the session expiry interval in seconds
	// (0xFFFFFFFF: never; 0: ends with the connection).
	ExpiryInterval uint32
	OfflineSince   time.Time // zero while connected
	Inflight       int
	Queued         int
	Subscriptions  []SubscriptionView // sorted by filter
}

// SubscriptionView is one subscription of one session.
type SubscriptionView struct {
	ClientID          string
	Filter            string // as subscribed, with any "$share/{group}/" prefix
	Group             string // share name, "" for a normal subscription
	QoS               byte   // granted
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	Identifier        uint32 // MQTT 5 subscription identifier, 0: none
}

// Clients yields a view of every connected client, in no particular order.
// A connection that has not completed CONNECT, or whose session was taken
// over by a newer connection, is not listed.
func (srv *Server) Clients() iter.Seq[ClientView] {
	return func(yield func(ClientView) bool) {
		srv.mu.Lock()
		cs := make([]*client, 0, len(srv.clients))
		for c := range srv.clients {
			cs = append(cs, c)
		}
		srv.mu.Unlock()
		for _, c := range cs {
			// c.sess is set before connected and never changes after.
			if !c.connected.Load() {
				continue
			}
			v, ok := c.sess.clientView(c)
			if ok && !yield(v) {
				return
			}
		}
	}
}

// Client returns the view of the connected client id.
func (srv *Server) Client(id string) (ClientView, bool) {
	s := srv.lookupSession(id)
	if s == nil {
		return ClientView{}, false
	}
	return s.clientView(nil)
}

// clientView describes the session's connection when it is c (any
// connection when c is nil).
func (s *session) clientView(c *client) (ClientView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil || (c != nil && s.client != c) || s.destroyed {
		return ClientView{}, false
	}
	c = s.client
	v := ClientView{
		ClientID:        c.id,
		Username:        c.info.Username,
		CommonName:      c.info.CommonName,
		Transport:       c.transport,
		ProtocolVersion: int(c.version),
		ConnectedAt:     time.Unix(0, c.createdAt),
		KeepAlive:       c.keepAlive,
		Persistent:      s.persistent,
		Subscriptions:   len(s.subs),
		Inflight:        len(s.inflight),
		Queued:          len(s.queue),
	}
	if a := c.info.RemoteAddr; a != nil {
		v.RemoteAddr = a.String()
	}
	return v, true
}

// Sessions yields a view of every session, connected or offline, in no
// particular order.
func (srv *Server) Sessions() iter.Seq[SessionView] {
	return func(yield func(SessionView) bool) {
		for _, s := range srv.sessionList() {
			if v, ok := s.view(); ok && !yield(v) {
				return
			}
		}
	}
}

// Session returns the view of the session of client id.
func (srv *Server) Session(id string) (SessionView, bool) {
	s := srv.lookupSession(id)
	if s == nil {
		return SessionView{}, false
	}
	return s.view()
}

func (srv *Server) sessionList() []*session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*session, 0, len(srv.sessions))
	for _, s := range srv.sessions {
		out = append(out, s)
	}
	return out
}

func (s *session) view() (SessionView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return SessionView{}, false
	}
	v := SessionView{
		ClientID:       s.id,
		Connected:      s.client != nil,
		Persistent:     s.persistent,
		ExpiryInterval: s.expiry,
		Inflight:       len(s.inflight),
		Queued:         len(s.queue),
		Subscriptions:  make([]SubscriptionView, 0, len(s.subs)),
	}
	if s.client == nil && s.offlineAt != 0 {
		v.OfflineSince = time.Unix(0, s.offlineAt)
	}
	for full, sub := range s.subs {
		v.Subscriptions = append(v.Subscriptions, SubscriptionView{
			ClientID:          s.id,
			Filter:            full,
			Group:             sub.group,
			QoS:               sub.opts.QoS,
			NoLocal:           sub.opts.NoLocal,
			RetainAsPublished: sub.opts.RetainAsPublished,
			RetainHandling:    sub.opts.RetainHandling,
			Identifier:        sub.opts.ID,
		})
	}
	sort.Slice(v.Subscriptions, func(i, j int) bool { return v.Subscriptions[i].Filter < v.Subscriptions[j].Filter })
	return v, true
}

// Subscriptions yields every subscription of every session, session by
// session.
func (srv *Server) Subscriptions() iter.Seq[SubscriptionView] {
	return func(yield func(SubscriptionView) bool) {
		for v := range srv.Sessions() {
			for _, sub := range v.Subscriptions {
				if !yield(sub) {
					return
				}
			}
		}
	}
}

// ConnectionKey groups open connections for the metrics.
type ConnectionKey struct {
	Transport       string
	ProtocolVersion int // 3, 4 or 5; 0 while CONNECT has not completed
}

// ConnectionCounts counts the open network connections by transport and
// protocol version. It holds Server.mu for one pass over the connections
// (about a millisecond per 100 000) and takes no other lock.
func (srv *Server) ConnectionCounts() map[ConnectionKey]int {
	out := make(map[ConnectionKey]int)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for c := range srv.clients {
		k := ConnectionKey{Transport: c.transport}
		if c.connected.Load() {
			k.ProtocolVersion = int(c.version)
		}
		out[k]++
	}
	return out
}

// Backlog sums the QoS 1/2 messages in flight to clients and queued in
// sessions (waiting for a window or an offline client) over every session.
func (srv *Server) Backlog() (inflight, queued int64) {
	for _, s := range srv.sessionList() {
		s.mu.Lock()
		inflight += int64(len(s.inflight))
		queued += int64(len(s.queue))
		s.mu.Unlock()
	}
	return inflight, queued
}

// TrafficStats are counters that Stats leaves out.
type TrafficStats struct {
	PacketsIn, PacketsOut int64
	Delivered             int64 // deliveries routed to sessions
	Redispatched          int64 // shared-subscription messages moved to another member
}

// Traffic returns the counters Stats leaves out.
func (srv *Server) Traffic() TrafficStats {
	st := &srv.stats
	return TrafficStats{
		PacketsIn: st.packetsIn.Load(), PacketsOut: st.packetsOut.Load(),
		Delivered: st.delivered.Load(), Redispatched: st.redispatched.Load(),
	}
}

// StartedAt returns when the server was created.
func (srv *Server) StartedAt() time.Time { return srv.start }

// RetainedMessages returns the retained messages whose topic filter (valid,
// plain, "#" for all but the '$' topics) matches, at most limit of them
// (limit <= 0: all), sorted by topic, and whether more matched. The
// messages are the broker's own and must not be modified.
func (srv *Server) RetainedMessages(filter string, limit int) (msgs []*Message, more bool) {
	now := nowNanos()
	srv.retained.Match(filter, func(_ string, m *Message) bool {
		if m.Expiry != 0 && m.Expiry <= now {
			return true
		}
		if limit > 0 && len(msgs) == limit {
			more = true
			return false
		}
		msgs = append(msgs, m)
		return true
	})
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Topic < msgs[j].Topic })
	return msgs, more
}

// DeleteRetained removes the retained message of a topic name on this node
// (index and store) without publishing anything, and reports whether there
// was one. In a cluster this is local: replicating it is the cluster's
// business.
func (srv *Server) DeleteRetained(topicName string) bool {
	if topic.ValidateTopicName(bytesOf(topicName), srv.opts.MaxTopicLevels) != nil {
		return false
	}
	if !srv.retained.Delete(topicName) {
		return false
	}
	if st := srv.opts.Store; st != nil {
		st.Commit([]store.Op{{Kind: store.Delete, Bucket: bucketRetained, Key: []byte(topicName)}}, nil)
	}
	return true
}
