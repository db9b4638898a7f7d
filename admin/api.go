package admin

import (
	"cmp"
	"iter"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/topic"
)

// The JSON of the API. Field names are part of the API: change them only
// with a new version path.

// Client is a connected client.
type Client struct {
	ClientID         string    `json:"client_id"`
	Username         string    `json:"username,omitempty"`
	CommonName       string    `json:"common_name,omitempty"`
	RemoteAddr       string    `json:"remote_addr"`
	Transport        string    `json:"transport"`
	ProtocolVersion  int       `json:"protocol_version"` // 3 (3.1), 4 (3.1.1), 5
	Protocol         string    `json:"protocol"`         // "3.1", "3.1.1", "5"
	ConnectedAt      time.Time `json:"connected_at"`
	KeepAliveSeconds int       `json:"keepalive_seconds"`
	Persistent       bool      `json:"persistent"`
	Subscriptions    int       `json:"subscriptions"`
	Inflight         int       `json:"inflight"`
	Queued           int       `json:"queued"`
}

// Session is a session, connected or not.
type Session struct {
	ClientID       string         `json:"client_id"`
	Connected      bool           `json:"connected"`
	Persistent     bool           `json:"persistent"`
	ExpiryInterval *uint32        `json:"expiry_interval_seconds"` // null: never expires
	OfflineSince   *time.Time     `json:"offline_since,omitempty"`
	Inflight       int            `json:"inflight"`
	Queued         int            `json:"queued"`
	Subscriptions  []Subscription `json:"subscriptions,omitempty"`
	SubCount       int            `json:"subscription_count"`
}

// Subscription is one subscription of one session.
type Subscription struct {
	ClientID          string `json:"client_id"`
	Filter            string `json:"filter"`
	Group             string `json:"share_group,omitempty"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"retain_as_published,omitempty"`
	RetainHandling    byte   `json:"retain_handling,omitempty"`
	Identifier        uint32 `json:"subscription_identifier,omitempty"`
}

// Retained is a retained message.
type Retained struct {
	Topic         string     `json:"topic"`
	QoS           byte       `json:"qos"`
	PayloadSize   int        `json:"payload_size"`
	Payload       *string    `json:"payload"` // the payload as text; null when it is not UTF-8
	PayloadBase64 []byte     `json:"payload_base64"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
}

// Node describes this node.
type Node struct {
	ID            string       `json:"id"`
	Version       string       `json:"version"`
	GoVersion     string       `json:"go_version"`
	StartedAt     time.Time    `json:"started_at"`
	UptimeSeconds float64      `json:"uptime_seconds"`
	Time          time.Time    `json:"time"`
	Stats         Stats        `json:"stats"`
	Connections   []ConnCount  `json:"connections_by_transport"`
	Traffic       TrafficStats `json:"traffic"`
}

// Stats mirrors broker.Stats.
type Stats struct {
	Connections       int64 `json:"connections"`
	Sessions          int64 `json:"sessions"`
	Subscriptions     int64 `json:"subscriptions"`
	Retained          int64 `json:"retained"`
	MessagesIn        int64 `json:"messages_in"`
	MessagesOut       int64 `json:"messages_out"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	Dropped           int64 `json:"dropped"`
	Refused           int64 `json:"refused"`
	AuthFailures      int64 `json:"auth_failures"`
	Denied            int64 `json:"denied"`
	WillsSent         int64 `json:"wills_sent"`
	SessionsExpired   int64 `json:"sessions_expired"`
	KeepaliveTimeouts int64 `json:"keepalive_timeouts"`
}

// TrafficStats mirrors broker.TrafficStats.
type TrafficStats struct {
	PacketsIn    int64 `json:"packets_in"`
	PacketsOut   int64 `json:"packets_out"`
	Delivered    int64 `json:"delivered"`
	Redispatched int64 `json:"redispatched"`
}

// ConnCount is a number of open connections of one transport and protocol.
type ConnCount struct {
	Transport string `json:"transport"`
	Protocol  string `json:"protocol"`
	Count     int    `json:"count"`
}

// List is the envelope of every list answer.
type List[T any] struct {
	Items     []T  `json:"items"`
	Count     int  `json:"count"`     // len(items)
	Truncated bool `json:"truncated"` // more matched than limit
}

const (
	defaultLimit = 1000
	maxLimit     = 100_000
)

// limit reads ?limit=, bounded to maxLimit.
func limitParam(r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return defaultLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, false
	}
	return min(n, maxLimit), true
}

func clientJSON(v broker.ClientView) Client {
	return Client{
		ClientID: v.ClientID, Username: v.Username, CommonName: v.CommonName,
		RemoteAddr: v.RemoteAddr, Transport: v.Transport,
		ProtocolVersion: v.ProtocolVersion, Protocol: protocolName(v.ProtocolVersion),
		ConnectedAt: v.ConnectedAt.UTC(), KeepAliveSeconds: int(v.KeepAlive / time.Second),
		Persistent: v.Persistent, Subscriptions: v.Subscriptions, Inflight: v.Inflight, Queued: v.Queued,
	}
}

func sessionJSON(v broker.SessionView, withSubs bool) Session {
	s := Session{
		ClientID: v.ClientID, Connected: v.Connected, Persistent: v.Persistent,
		Inflight: v.Inflight, Queued: v.Queued, SubCount: len(v.Subscriptions),
	}
	if v.ExpiryInterval != 0xFFFFFFFF {
		e := v.ExpiryInterval
		s.ExpiryInterval = &e
	}
	if !v.OfflineSince.IsZero() {
		t := v.OfflineSince.UTC()
		s.OfflineSince = &t
	}
	if withSubs {
		s.Subscriptions = make([]Subscription, len(v.Subscriptions))
		for i, sub := range v.Subscriptions {
			s.Subscriptions[i] = subscriptionJSON(sub)
		}
	}
	return s
}

func subscriptionJSON(v broker.SubscriptionView) Subscription {
	return Subscription{
		ClientID: v.ClientID, Filter: v.Filter, Group: v.Group, QoS: v.QoS, NoLocal: v.NoLocal,
		RetainAsPublished: v.RetainAsPublished, RetainHandling: v.RetainHandling, Identifier: v.Identifier,
	}
}

// MatchClient reports whether a client matches a search: a case-insensitive
// substring of its client id, username, certificate CN or remote address.
func MatchClient(v *broker.ClientView, search string) bool {
	if search == "" {
		return true
	}
	s := strings.ToLower(search)
	for _, f := range [...]string{v.ClientID, v.Username, v.CommonName, v.RemoteAddr} {
		if strings.Contains(strings.ToLower(f), s) {
			return true
		}
	}
	return false
}

// collect gathers up to limit items, sorted by key, and whether more
// matched. It keeps the limit smallest keys, so a truncated list is the
// start of the full sorted list.
func collect[T any](seq iter.Seq[T], keep func(*T) bool, key func(*T) string, limit int) ([]T, bool) {
	var out []T
	truncated := false
	for v := range seq {
		if !keep(&v) {
			continue
		}
		out = append(out, v)
		if len(out) > 2*limit {
			// Trim as we go so a huge list needs O(limit) memory.
			slices.SortFunc(out, func(a, b T) int { return cmp.Compare(key(&a), key(&b)) })
			out, truncated = out[:limit], true
		}
	}
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(key(&a), key(&b)) })
	if len(out) > limit {
		out, truncated = out[:limit], true
	}
	return out, truncated
}

func (s *Server) node(w http.ResponseWriter, r *http.Request) {
	srv := s.opts.Broker
	st := srv.Stats()
	tr := srv.Traffic()
	now := time.Now()
	n := Node{
		ID: s.opts.NodeID, Version: s.opts.Version, GoVersion: runtime.Version(),
		StartedAt: srv.StartedAt().UTC(), UptimeSeconds: now.Sub(srv.StartedAt()).Seconds(), Time: now.UTC(),
		Stats: Stats{
			Connections: st.Connections, Sessions: st.Sessions, Subscriptions: st.Subscriptions, Retained: st.Retained,
			MessagesIn: st.MessagesIn, MessagesOut: st.MessagesOut, BytesIn: st.BytesIn, BytesOut: st.BytesOut,
			Dropped: st.Dropped, Refused: st.Refused, AuthFailures: st.AuthFailures, Denied: st.Denied,
			WillsSent: st.WillsSent, SessionsExpired: st.SessionsExpired, KeepaliveTimeouts: st.KeepaliveTimeouts,
		},
		Traffic:     TrafficStats{PacketsIn: tr.PacketsIn, PacketsOut: tr.PacketsOut, Delivered: tr.Delivered, Redispatched: tr.Redispatched},
		Connections: []ConnCount{},
	}
	for k, c := range srv.ConnectionCounts() {
		n.Connections = append(n.Connections, ConnCount{Transport: k.Transport, Protocol: protocolName(k.ProtocolVersion), Count: c})
	}
	slices.SortFunc(n.Connections, func(a, b ConnCount) int {
		return cmp.Or(cmp.Compare(a.Transport, b.Transport), cmp.Compare(a.Protocol, b.Protocol))
	})
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	search := r.URL.Query().Get("search")
	views, truncated := collect(s.opts.Broker.Clients(),
		func(v *broker.ClientView) bool { return MatchClient(v, search) },
		func(v *broker.ClientView) string { return v.ClientID }, limit)
	out := List[Client]{Items: make([]Client, len(views)), Count: len(views), Truncated: truncated}
	for i, v := range views {
		out.Items[i] = clientJSON(v)
	}
	writeJSON(w, http.StatusOK, out)
}

// ClientDetail is the answer of GET /api/v1/clients/{id}: the connection
// (null when offline) and the session.
type ClientDetail struct {
	Client  *Client  `json:"client"`
	Session *Session `json:"session"`
}

func (s *Server) getClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var d ClientDetail
	if v, ok := s.opts.Broker.Client(id); ok {
		c := clientJSON(v)
		d.Client = &c
	}
	if v, ok := s.opts.Broker.Session(id); ok {
		sv := sessionJSON(v, true)
		d.Session = &sv
	}
	if d.Client == nil && d.Session == nil {
		writeError(w, http.StatusNotFound, "no client or session "+strconv.Quote(id))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) kickClient(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !s.opts.Broker.DisconnectClient(id, packet.AdministrativeAction) {
		writeError(w, http.StatusNotFound, "client "+strconv.Quote(id)+" is not connected")
		return
	}
	s.log.Info("client disconnected by the admin API", "client", id, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"disconnected": true, "client_id": id})
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	search := strings.ToLower(r.URL.Query().Get("search"))
	views, truncated := collect(s.opts.Broker.Sessions(),
		func(v *broker.SessionView) bool { return strings.Contains(strings.ToLower(v.ClientID), search) },
		func(v *broker.SessionView) string { return v.ClientID }, limit)
	out := List[Session]{Items: make([]Session, len(views)), Count: len(views), Truncated: truncated}
	for i, v := range views {
		out.Items[i] = sessionJSON(v, false)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	q := r.URL.Query()
	client, filter, name := q.Get("client"), q.Get("filter"), q.Get("topic")
	if name != "" && topic.ValidateTopicName([]byte(name), 0) != nil {
		writeError(w, http.StatusBadRequest, "topic must be a topic name (no wildcards)")
		return
	}
	keep := func(v *broker.SubscriptionView) bool {
		if client != "" && v.ClientID != client {
			return false
		}
		if filter != "" && !strings.Contains(v.Filter, filter) {
			return false
		}
		if name != "" {
			_, f, _ := topic.ParseShared(v.Filter)
			return topic.Match(f, name)
		}
		return true
	}
	views, truncated := collect(s.opts.Broker.Subscriptions(), keep,
		func(v *broker.SubscriptionView) string { return v.ClientID + "\x00" + v.Filter }, limit)
	out := List[Subscription]{Items: make([]Subscription, len(views)), Count: len(views), Truncated: truncated}
	for i, v := range views {
		out.Items[i] = subscriptionJSON(v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listRetained(w http.ResponseWriter, r *http.Request) {
	limit, ok := limitParam(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a positive integer")
		return
	}
	filter := r.URL.Query().Get("filter")
	if filter == "" {
		filter = "#"
	}
	if topic.ValidateFilter([]byte(filter), 0) != nil || strings.HasPrefix(filter, topic.SharePrefix) {
		writeError(w, http.StatusBadRequest, "filter must be a valid topic filter, e.g. sensors/+/temp or # (which leaves out $ topics)")
		return
	}
	msgs, truncated := s.opts.Broker.RetainedMessages(filter, limit)
	out := List[Retained]{Items: make([]Retained, len(msgs)), Count: len(msgs), Truncated: truncated}
	for i, m := range msgs {
		rm := Retained{Topic: m.Topic, QoS: m.QoS, PayloadSize: len(m.Payload), PayloadBase64: m.Payload}
		if rm.PayloadBase64 == nil {
			rm.PayloadBase64 = []byte{}
		}
		if utf8.Valid(m.Payload) {
			p := string(m.Payload)
			rm.Payload = &p
		}
		if m.Expiry != 0 {
			t := time.Unix(0, m.Expiry).UTC()
			rm.ExpiresAt = &t
		}
		out.Items[i] = rm
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteRetained(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	if name == "" {
		name = r.URL.Query().Get("topic")
	}
	if topic.ValidateTopicName([]byte(name), 0) != nil {
		writeError(w, http.StatusBadRequest, "give a topic name (no wildcards): DELETE /api/v1/retained/{topic} or ?topic=")
		return
	}
	if !s.opts.Broker.DeleteRetained(name) {
		writeError(w, http.StatusNotFound, "no retained message on "+strconv.Quote(name))
		return
	}
	s.log.Info("retained message deleted by the admin API", "topic", name, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true, "topic": name})
}
