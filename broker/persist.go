package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/store"
	"github.com/mqttio/mqttio/broker/topic"
)

// Store buckets. Keys: sessions by client id; queue by client id, 0x00,
// 8-byte sequence; qos2 by client id, 0x00, 2-byte packet id; retained by
// topic name. A client id never contains U+0000 [MQTT-1.5.4-2], so the
// separator cannot collide.
const (
	bucketSessions = "sessions"
	bucketQueue    = "queue"
	bucketQoS2     = "qos2in"
	bucketRetained = "retained"
)

const recordVersion = 1

var errCorrupt = errors.New("corrupt record")

func sessionPrefix(id string) []byte { return append([]byte(id), 0) }

func queueKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(sessionPrefix(id), seq)
}

func qos2Key(id string, pid uint16) []byte {
	return binary.BigEndian.AppendUint16(sessionPrefix(id), pid)
}

// splitKey separates the client id from the suffix of a queue or qos2 key.
func splitKey(k []byte, suffix int) (string, []byte, error) {
	if len(k) < suffix+1 || k[len(k)-suffix-1] != 0 {
		return "", nil, errCorrupt
	}
	return string(k[:len(k)-suffix-1]), k[len(k)-suffix:], nil
}

// saveSession writes a persistent session's subscriptions and expiry, or
// deletes the record of a session that stopped being persistent.
func (srv *Server) saveSession(s *session) {
	st := srv.opts.Store
	if st == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.destroyed {
		return
	}
	if !s.persistent {
		if s.stored {
			s.stored = false
			st.Commit([]store.Op{{Kind: store.Delete, Bucket: bucketSessions, Key: []byte(s.id)}}, nil)
		}
		return
	}
	s.stored = true
	st.Commit([]store.Op{{Kind: store.Put, Bucket: bucketSessions, Key: []byte(s.id), Value: encodeSession(s)}}, nil)
}

// encodeSession: version, expiry, offlineAt, count, then per subscription
// filter, group, options byte, retain handling, identifier.
func encodeSession(s *session) []byte {
	b := []byte{recordVersion}
	b = binary.BigEndian.AppendUint32(b, s.expiry)
	b = binary.BigEndian.AppendUint64(b, uint64(s.offlineAt))
	b = binary.AppendUvarint(b, uint64(len(s.subs)))
	for _, sub := range s.subs {
		b = appendStr(b, sub.filter)
		b = appendStr(b, sub.group)
		o := sub.opts.QoS
		if sub.opts.NoLocal {
			o |= packet.SubNoLocal
		}
		if sub.opts.RetainAsPublished {
			o |= packet.SubRetainAsPublished
		}
		b = append(b, o, sub.opts.RetainHandling)
		b = binary.AppendUvarint(b, uint64(sub.opts.ID))
	}
	return b
}

func decodeSession(srv *Server, id string, b []byte) (*session, error) {
	r := reader{b: b}
	if r.byte() != recordVersion {
		return nil, errCorrupt
	}
	s := newSession(srv, id)
	s.persistent, s.stored = true, true
	s.expiry = r.u32()
	s.offlineAt = int64(r.u64())
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		filter, group := r.str(), r.str()
		o, rh := r.byte(), r.byte()
		e := topic.Entry[*session]{
			Sub: s, QoS: o & packet.SubQoSMask, NoLocal: o&packet.SubNoLocal != 0,
			RetainAsPublished: o&packet.SubRetainAsPublished != 0, RetainHandling: rh,
			ID: uint32(r.uvarint()),
		}
		full := filter
		if group != "" {
			full = "$share/" + group + "/" + filter
		}
		s.subs[full] = &subscription{filter: filter, group: group, opts: e}
	}
	return s, r.err
}

// encodeOutMsg: version, state, qos, retain, packet id, identifiers, message.
func encodeOutMsg(om *outMsg) []byte {
	b := []byte{recordVersion, om.state, om.qos, b2u(om.retain)}
	b = binary.BigEndian.AppendUint16(b, om.pid)
	b = binary.AppendUvarint(b, uint64(len(om.ids)))
	for _, id := range om.ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return encodeMessage(b, om.msg)
}

func decodeOutMsg(b []byte) (*outMsg, error) {
	r := reader{b: b}
	if r.byte() != recordVersion {
		return nil, errCorrupt
	}
	om := &outMsg{state: r.byte(), qos: r.byte(), retain: r.byte() != 0, pid: r.u16()}
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		om.ids = append(om.ids, uint32(r.uvarint()))
	}
	if r.err != nil {
		return nil, r.err
	}
	m, err := decodeMessage(r.b)
	om.msg = m
	return om, err
}

// encodeMessage appends a message: topic, qos, retain, expiry, the
// forwarded properties, then the payload (the rest).
func encodeMessage(b []byte, m *Message) []byte {
	b = appendStr(b, m.Topic)
	b = append(b, m.QoS, b2u(m.Retain))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Expiry))
	b = appendStr(b, m.Origin)
	p := m.Props
	if p == nil {
		p = &packet.Properties{}
	}
	b = append(b, byte(p.Has&hasForwarded), p.PayloadFormat)
	b = appendBytes(b, p.ContentType)
	b = appendBytes(b, p.ResponseTopic)
	b = appendBytes(b, p.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(p.UserProperties)))
	for _, u := range p.UserProperties {
		b = appendBytes(b, u.Key)
		b = appendBytes(b, u.Value)
	}
	return append(b, m.Payload...)
}

func decodeMessage(b []byte) (*Message, error) {
	r := reader{b: b}
	m := &Message{Topic: r.str(), QoS: r.byte(), Retain: r.byte() != 0}
	m.Expiry = int64(r.u64())
	m.Origin = r.str()
	p := &packet.Properties{Has: uint32(r.byte()), PayloadFormat: r.byte()}
	p.ContentType, p.ResponseTopic, p.CorrelationData = r.bytes(), r.bytes(), r.bytes()
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		p.UserProperties = append(p.UserProperties, packet.UserProperty{Key: r.bytes(), Value: r.bytes()})
	}
	if p.Has != 0 || p.ContentType != nil || p.ResponseTopic != nil || p.CorrelationData != nil || len(p.UserProperties) > 0 {
		m.Props = p
	}
	m.Payload = append([]byte(nil), r.b...)
	return m, r.err
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBytes distinguishes nil (absent property) from empty.
func appendBytes(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// reader decodes records; the first error sticks and later reads return
// zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) need(n int) bool {
	if r.err == nil && len(r.b) < n {
		r.err = errCorrupt
	}
	return r.err == nil
}

func (r *reader) byte() byte {
	if !r.need(1) {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) || !r.need(int(n)) {
		r.err = errCorrupt
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n == 0 || r.err != nil {
		return nil
	}
	n--
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	v := append([]byte{}, r.b[:n]...)
	r.b = r.b[n:]
	return v
}

// restore loads sessions, their queues and inbound QoS 2 state, and the
// retained messages from the store at start-up.
func (srv *Server) restore() error {
	st := srv.opts.Store
	if st == nil {
		return nil
	}
	now := time.Now()
	err := st.ForEach(bucketSessions, func(k, v []byte) error {
		s, err := decodeSession(srv, string(k), v)
		if err != nil {
			return fmt.Errorf("session %q: %w", k, err)
		}
		srv.sessions[s.id] = s
		for _, sub := range s.subs {
			srv.subs.Subscribe(sub.filter, sub.group, sub.opts)
			srv.stats.subscriptions.Add(1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore sessions: %w", err)
	}
	err = st.ForEach(bucketQueue, func(k, v []byte) error {
		id, suffix, err := splitKey(k, 8)
		if err != nil {
			return err
		}
		s := srv.sessions[id]
		if s == nil {
			return nil // left over from a session deleted in the same batch
		}
		om, err := decodeOutMsg(v)
		if err != nil {
			return fmt.Errorf("queue %q: %w", k, err)
		}
		om.seq = binary.BigEndian.Uint64(suffix)
		s.seq = max(s.seq, om.seq)
		if om.state == stateQueued || om.pid == 0 {
			om.state = stateQueued
			s.queue = append(s.queue, om)
		} else {
			s.inflight = append(s.inflight, om)
			s.byPID[om.pid] = om
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore queues: %w", err)
	}
	err = st.ForEach(bucketQoS2, func(k, _ []byte) error {
		id, suffix, err := splitKey(k, 2)
		if err != nil {
			return err
		}
		if s := srv.sessions[id]; s != nil {
			if s.inQoS2 == nil {
				s.inQoS2 = make(map[uint16]struct{})
			}
			s.inQoS2[binary.BigEndian.Uint16(suffix)] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore qos2: %w", err)
	}
	err = st.ForEach(bucketRetained, func(k, v []byte) error {
		m, err := decodeMessage(v)
		if err != nil {
			return fmt.Errorf("retained %q: %w", k, err)
		}
		srv.retained.Set(m.Topic, m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore retained: %w", err)
	}
	// Offline sessions expire counting from when their client left; a
	// session whose client was connected when we stopped counts from now.
	for _, s := range srv.sessions {
		if s.expiry == neverExpire {
			continue
		}
		from := now
		if s.offlineAt != 0 {
			from = time.Unix(0, s.offlineAt)
		}
		left := time.Until(from.Add(time.Duration(s.expiry) * time.Second))
		s, epoch := s, s.epoch
		srv.timers.after(max(left, 0), func() { srv.expireSession(s, epoch) })
	}
	srv.log.Info("restored state", "sessions", len(srv.sessions), "retained", srv.retained.Len())
	return nil
}
