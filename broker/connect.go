package broker

import (
	"crypto/tls"
	"errors"
	"strconv"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/topic"
)

// will is a client's Will Message with its delay.
type will struct {
	msg   *Message
	delay uint32 // v5 Will Delay Interval, seconds
}

// handleConnect authenticates the client, attaches its session and answers
// CONNACK [MQTT-3.1.4].
func (c *client) handleConnect(flags byte, body []byte) error {
	p := &c.pkt.connect
	if err := packet.DecodeConnect(flags, body, p); err != nil {
		var rc packet.ReasonCode
		if !errors.As(err, &rc) {
			rc = packet.MalformedPacket
		}
		v := peekVersion(body)
		if rc == packet.UnsupportedProtocolVersion {
			// [MQTT-3.1.2-2]: answer in the 3.1.1 form, return code 1.
			v = packet.V311
		}
		if v == packet.V5 || v == packet.V311 || v == packet.V31 {
			return c.refuse(v, rc, "")
		}
		return err
	}
	c.version = p.Version
	srv := c.srv
	opts := &srv.opts

	// Client identifier [MQTT-3.1.3-3..9].
	id := string(p.ClientID)
	var assigned bool
	if id == "" {
		if c.version == packet.V31 || (c.version == packet.V311 && !p.CleanStart) || !opts.zeroLengthIDs() {
			// [MQTT-3.1.3-8]: zero-length id without clean session.
			return c.refuse(c.version, packet.ClientIdentifierNotValid, "")
		}
		id = "auto-" + srv.opts.NodeID + "-" + strconv.FormatUint(srv.assigned.Add(1), 36) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
		assigned = c.version == packet.V5
	}
	c.id = id
	c.info = ClientInfo{ClientID: id, Transport: c.transport, RemoteAddr: c.conn.RemoteAddr()}
	if p.HasUsername {
		c.info.Username = string(p.Username)
	}
	if tc, ok := c.conn.(*tls.Conn); ok {
		if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
			c.info.CommonName = st.PeerCertificates[0].Subject.CommonName
		}
	}

	props := &p.Properties
	c.problem = true
	c.recvMax = 65535
	if c.version == packet.V5 {
		if props.AuthMethod != nil {
			// No enhanced authentication method is configured [MQTT-4.12.0-1].
			return c.refuse(c.version, packet.BadAuthenticationMethod, "")
		}
		if props.Has&packet.HasReceiveMaximum != 0 {
			c.recvMax = int(props.ReceiveMaximum)
		}
		if props.Has&packet.HasMaximumPacketSize != 0 {
			c.maxPacket = int(props.MaximumPacketSize)
		}
		if props.Has&packet.HasTopicAliasMaximum != 0 {
			c.aliasMax = props.TopicAliasMaximum
		}
		if props.Has&packet.HasRequestProblemInfo != 0 {
			c.problem = props.RequestProblemInfo != 0
		}
	}

	// The will is validated now so that a bad one refuses the connection
	// [MQTT-3.1.2-9]..[MQTT-3.1.2-16].
	if p.WillFlag {
		if err := topic.ValidateTopicName(p.WillTopic, opts.MaxTopicLevels); err != nil {
			return c.refuse(c.version, packet.TopicNameInvalid, "")
		}
		if int(p.WillQoS) > opts.MaxQoS {
			return c.refuse(c.version, packet.QoSNotSupported, "")
		}
		if p.WillRetain && !opts.retainAvailable() {
			return c.refuse(c.version, packet.RetainNotSupported, "")
		}
		w := &will{msg: &Message{
			Topic:   string(p.WillTopic),
			Payload: clone(p.WillPayload),
			QoS:     p.WillQoS,
			Retain:  p.WillRetain,
			Origin:  id,
		}}
		if c.version == packet.V5 {
			wp := &p.WillProperties
			w.delay = wp.WillDelay
			w.msg.Props = cloneForwarded(wp)
			if wp.Has&packet.HasMessageExpiry != 0 {
				// Stored as an interval; it starts when the will is published.
				w.msg.Expiry = -int64(wp.MessageExpiry)
			}
		}
		c.will = w
	}

	if rc := srv.admit(id, time.Now().UnixNano()); rc != packet.Success {
		srv.stats.refused.Add(1)
		return c.refuse(c.version, rc, "")
	}
	c.limits = srv.newRateLimits(time.Now().UnixNano())

	if a := opts.Auth; a != nil {
		if rc := a.Authenticate(&c.info, p.Password); rc != packet.Success {
			srv.stats.authFailures.Add(1)
			return c.refuse(c.version, rc, "")
		}
	}

	// Keep alive [MQTT-3.1.2-20..24].
	keepAlive := p.KeepAlive
	var serverKeepAlive bool
	if maxKA := opts.MaxKeepAlive; maxKA > 0 && c.version == packet.V5 {
		if lim := uint16(min(maxKA/time.Second, 65535)); keepAlive == 0 || keepAlive > lim {
			keepAlive, serverKeepAlive = lim, true
		}
	}
	c.keepAlive = time.Duration(keepAlive) * time.Second

	// Session lifetime: v5 Session Expiry Interval; v3 clean session.
	var expiry uint32
	var expiryCapped bool
	switch {
	case c.version == packet.V5:
		expiry = props.SessionExpiry
	case !p.CleanStart:
		expiry = neverExpire
	}
	if lim := opts.MaxSessionExpiry; lim > 0 && expiry > 0 {
		if secs := uint32(min(lim/time.Second, neverExpire-1)); expiry > secs {
			expiry, expiryCapped = secs, true
		}
	}

	ack := packet.Connack{ReasonCode: packet.Success}
	if c.version == packet.V5 {
		ap := &ack.Properties
		if assigned {
			ap.AssignedClientID = []byte(id)
		}
		if serverKeepAlive {
			ap.Has |= packet.HasServerKeepAlive
			ap.ServerKeepAlive = keepAlive
		}
		if expiryCapped {
			ap.Has |= packet.HasSessionExpiry
			ap.SessionExpiry = expiry
		}
		if opts.ReceiveMaximum < 65535 {
			ap.Has |= packet.HasReceiveMaximum
			ap.ReceiveMaximum = uint16(opts.ReceiveMaximum)
		}
		ap.Has |= packet.HasMaximumPacketSize
		ap.MaximumPacketSize = uint32(opts.MaxPacketSize)
		if opts.TopicAliasMaximum > 0 {
			ap.Has |= packet.HasTopicAliasMaximum
			ap.TopicAliasMaximum = uint16(opts.TopicAliasMaximum)
		}
		if !opts.retainAvailable() {
			ap.Has |= packet.HasRetainAvailable
		}
		if opts.MaxQoS < 2 {
			ap.Has |= packet.HasMaximumQoS
			ap.MaximumQoS = byte(opts.MaxQoS)
		}
	}
	srv.attach(c, p.CleanStart, expiry, &ack)
	srv.log.Debug("client connected", "client", id, "remote", c.remote(), "transport", c.transport,
		"version", int(c.version), "clean", p.CleanStart, "keepalive", keepAlive)
	return nil
}

// refuse answers CONNACK with an error code and ends the connection
// [MQTT-3.2.2-6]/[MQTT-3.2.2-7].
func (c *client) refuse(v packet.Version, rc packet.ReasonCode, why string) error {
	ack := packet.Connack{ReasonCode: rc}
	if why != "" && v == packet.V5 {
		ack.Properties.ReasonString = []byte(why)
	}
	c.srv.stats.refused.Add(1)
	c.closeCause.Store("CONNECT refused: " + rc.String())
	c.sendFinal(func(b []byte) []byte { return packet.AppendConnack(b, v, &ack) })
	return errRefused
}

// peekVersion reads the protocol level of a CONNECT body that failed to
// decode, to answer in the right form; 0 when it cannot tell.
func peekVersion(body []byte) packet.Version {
	if len(body) < 2 {
		return 0
	}
	n := int(body[0])<<8 | int(body[1])
	if len(body) < 2+n+1 {
		return 0
	}
	return packet.Version(body[2+n])
}

// attach binds c to its session (taking over any other connection of the
// same client id [MQTT-3.1.4-3]), sends CONNACK and re-sends what the
// session had in flight.
func (srv *Server) attach(c *client, cleanStart bool, expiry uint32, ack *packet.Connack) {
	for !srv.tryAttach(c, cleanStart, expiry, ack) {
		// The session was destroyed between lookup and lock: look again.
	}
}

func (srv *Server) tryAttach(c *client, cleanStart bool, expiry uint32, ack *packet.Connack) bool {
	srv.mu.Lock()
	s := srv.sessions[c.id]
	var old *client
	var discard *session
	if s != nil {
		s.mu.Lock()
		old = s.client
		s.client = nil
		s.discarded = s.discarded || cleanStart // seen by old's detach: its session ended
		s.mu.Unlock()
		if cleanStart {
			// [MQTT-3.1.2-4]: discard the existing session.
			discard, s = s, nil
		}
	}
	present := s != nil
	if s == nil {
		s = newSession(srv, c.id)
		srv.sessions[c.id] = s
	}
	srv.mu.Unlock()

	if old != nil {
		// [MQTT-3.1.4-3]: the existing connection is closed; v5 clients are
		// told why (0x8E).
		old.disconnect(packet.SessionTakenOver)
	}
	if discard != nil {
		srv.destroySession(discard, 0)
	}

	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return false
	}
	s.epoch++ // cancels a pending will or expiry of an earlier connection [MQTT-3.1.3-9]
	s.will = nil
	s.offlineAt = 0
	s.persistent = expiry > 0
	s.expiry = expiry
	c.sess = s
	// [MQTT-3.2.2-1..3]: session present only when resuming one.
	ack.SessionPresent = present && c.version != packet.V31
	v := c.version
	c.send(func(b []byte) []byte { return packet.AppendConnack(b, v, ack) })
	s.client = c
	c.connected.Store(true)
	if present {
		s.resendLocked()
	}
	s.mu.Unlock()
	srv.saveSession(s)
	return true
}

// detach runs when a connected client's connection has ended: the will,
// shared-subscription re-dispatch and the session's fate.
func (srv *Server) detach(c *client) {
	s := c.sess
	s.mu.Lock()
	owner := s.client == c
	var redispatch []*outMsg
	if owner {
		s.client = nil
		s.offlineAt = nowNanos()
		redispatch = s.takeSharedLocked()
	}
	persistent := s.persistent
	expiry := s.expiry
	ended := s.destroyed || s.discarded
	epoch := s.epoch
	s.mu.Unlock()

	if w := c.will; w != nil && !c.normalExit {
		switch {
		case w.delay == 0 || ended:
			// No delay, or a clean-start takeover ended the session: the
			// will goes out now [MQTT-3.1.3-9].
			srv.publishWill(c.info, w)
		case !owner:
			// Another connection resumed the session within the will
			// delay: no will [MQTT-3.1.3-9].
		case !persistent:
			// The session ends with this connection, and the delay with it.
			srv.publishWill(c.info, w)
		default:
			s.mu.Lock()
			if s.epoch == epoch {
				s.will = w
			}
			s.mu.Unlock()
			delay := min(time.Duration(w.delay)*time.Second, time.Duration(expiry)*time.Second)
			srv.timers.after(delay, func() { srv.willDelayElapsed(s, epoch, c.info) })
		}
	}
	for _, om := range redispatch {
		srv.redispatch(om, s)
	}
	if !owner {
		return
	}
	if !persistent {
		srv.destroySession(s, epoch)
		return
	}
	srv.saveSession(s)
	if expiry != neverExpire {
		srv.timers.after(time.Duration(expiry)*time.Second, func() { srv.expireSession(s, epoch) })
	}
}

// handleDisconnect processes a client DISCONNECT [MQTT-3.14].
func (c *client) handleDisconnect(flags byte, body []byte) error {
	d := &c.pkt.disc
	if err := packet.DecodeDisconnect(c.version, flags, body, d); err != nil {
		return err
	}
	if c.version == packet.V5 && d.Properties.Has&packet.HasSessionExpiry != 0 {
		s := c.sess
		s.mu.Lock()
		if s.expiry == 0 && d.Properties.SessionExpiry != 0 {
			s.mu.Unlock()
			// [MQTT-3.14.2-2]: cannot turn a non-persistent session persistent.
			return errProtocol("session expiry set in DISCONNECT after 0 in CONNECT")
		}
		s.expiry = d.Properties.SessionExpiry
		if lim := c.srv.opts.MaxSessionExpiry; lim > 0 && s.expiry > 0 {
			s.expiry = uint32(min(uint64(s.expiry), uint64(lim/time.Second)))
		}
		s.persistent = s.expiry > 0
		s.mu.Unlock()
	}
	// [MQTT-3.14.4-3]: a normal DISCONNECT discards the will, except v5
	// reason 0x04 Disconnect with Will Message.
	c.normalExit = !(c.version == packet.V5 && d.ReasonCode == packet.DisconnectWithWill)
	c.closeCause.Store("client DISCONNECT")
	c.closeConn()
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// cloneForwarded copies the properties a broker forwards with a message
// out of a read buffer; nil when there are none.
func cloneForwarded(p *packet.Properties) *packet.Properties {
	if p.Has&hasForwarded == 0 && p.ContentType == nil && p.ResponseTopic == nil &&
		p.CorrelationData == nil && len(p.UserProperties) == 0 {
		return nil
	}
	n := &packet.Properties{
		Has:             p.Has & hasForwarded,
		PayloadFormat:   p.PayloadFormat,
		ContentType:     clone(p.ContentType),
		ResponseTopic:   clone(p.ResponseTopic),
		CorrelationData: clone(p.CorrelationData),
	}
	if len(p.UserProperties) > 0 {
		n.UserProperties = make([]packet.UserProperty, len(p.UserProperties))
		for i, u := range p.UserProperties {
			n.UserProperties[i] = packet.UserProperty{Key: clone(u.Key), Value: clone(u.Value)}
		}
	}
	return n
}
