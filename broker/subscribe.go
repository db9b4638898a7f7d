package broker

import (
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/topic"
)

// handleSubscribe processes SUBSCRIBE [MQTT-3.8] and answers SUBACK with
// one code per filter, then sends the retained messages the new
// subscriptions ask for.
func (c *client) handleSubscribe(flags byte, body []byte) error {
	p := &c.pkt.sub
	if err := packet.DecodeSubscribe(c.version, flags, body, p); err != nil {
		return err
	}
	srv := c.srv
	s := c.sess
	var subID uint32
	if ids := p.Properties.SubscriptionIDs; len(ids) > 0 {
		subID = ids[0]
	}
	type retainedReq struct {
		filter string
		e      topic.Entry[*session]
	}
	var wantRetained []retainedReq
	codes := make([]packet.ReasonCode, len(p.Subscriptions))
	for i := range p.Subscriptions {
		sub := &p.Subscriptions[i]
		if err := topic.ValidateFilter(sub.Filter, srv.opts.MaxTopicLevels); err != nil {
			codes[i] = c.failCode(packet.TopicFilterInvalid)
			continue
		}
		full := string(sub.Filter)
		group, filter, shared := topic.ParseShared(full)
		if shared && sub.NoLocal && c.version == packet.V5 {
			// [MQTT-3.8.3-4]: No Local on a shared subscription.
			return errProtocol("no local on a shared subscription")
		}
		if a := srv.opts.Auth; a != nil && !a.Authorize(&c.info, ActionSubscribe, full) {
			srv.stats.denied.Add(1)
			codes[i] = c.failCode(packet.NotAuthorized)
			continue
		}
		e := topic.Entry[*session]{
			Sub:               s,
			QoS:               min(sub.QoS, byte(srv.opts.MaxQoS)), // [MQTT-3.8.4-6]
			NoLocal:           sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished,
			RetainHandling:    sub.RetainHandling,
			ID:                subID,
		}
		existed := srv.addSubscription(s, full, filter, group, e)
		codes[i] = packet.ReasonCode(e.QoS)
		// Retain Handling [MQTT-3.3.1-9..11]; never for shared subscriptions
		// [MQTT-4.8.2-?].
		if !shared && (e.RetainHandling == 0 || (e.RetainHandling == 1 && !existed)) {
			wantRetained = append(wantRetained, retainedReq{filter, e})
		}
	}
	ack := packet.Suback{PacketID: p.PacketID, ReasonCodes: codes}
	c.send(func(b []byte) []byte { return packet.AppendSuback(b, c.version, &ack) })
	srv.saveSession(s)

	now := nowNanos()
	for _, req := range wantRetained {
		srv.retained.Match(req.filter, func(name string, m *Message) bool {
			if m.Expiry != 0 && m.Expiry <= now {
				return true // expired [MQTT-3.3.2-5]; the sweeper drops it
			}
			if a := srv.opts.Auth; a != nil && !a.Authorize(&c.info, ActionReceive, name) {
				return true
			}
			var ids []uint32
			if req.e.ID != 0 {
				ids = []uint32{req.e.ID}
			}
			// Retained messages sent for a new subscription keep the
			// retain flag [MQTT-3.3.1-8].
			s.deliver(m, min(m.QoS, req.e.QoS), true, ids, nil)
			return true
		})
	}
	return nil
}

// failCode returns the SUBACK failure code for the client's version: v3
// has only 0x80 [MQTT-3.9.3].
func (c *client) failCode(rc packet.ReasonCode) packet.ReasonCode {
	if c.version != packet.V5 {
		return packet.UnspecifiedError
	}
	return rc
}

// addSubscription adds or replaces one subscription of s and reports
// whether it replaced an existing one.
func (srv *Server) addSubscription(s *session, full, filter, group string, e topic.Entry[*session]) bool {
	s.mu.Lock()
	if s.destroyed {
		s.mu.Unlock()
		return false
	}
	s.subs[full] = &subscription{filter: filter, group: group, opts: e}
	existed, first := srv.subs.Subscribe(filter, group, e)
	s.mu.Unlock()
	if first && srv.opts.Cluster != nil {
		srv.opts.Cluster.RouteAdded(filter, group)
	}
	if !existed {
		srv.stats.subscriptions.Add(1)
	}
	return existed
}

// removeRoute takes one subscription of s out of the trie.
func (srv *Server) removeRoute(s *session, sub *subscription) bool {
	existed, last := srv.subs.Unsubscribe(sub.filter, sub.group, s)
	if existed {
		srv.stats.subscriptions.Add(-1)
	}
	if last && srv.opts.Cluster != nil {
		srv.opts.Cluster.RouteRemoved(sub.filter, sub.group)
	}
	return existed
}

// handleUnsubscribe processes UNSUBSCRIBE [MQTT-3.10].
func (c *client) handleUnsubscribe(flags byte, body []byte) error {
	p := &c.pkt.unsub
	if err := packet.DecodeUnsubscribe(c.version, flags, body, p); err != nil {
		return err
	}
	srv := c.srv
	s := c.sess
	codes := make([]packet.ReasonCode, len(p.Filters))
	for i, f := range p.Filters {
		if err := topic.ValidateFilter(f, srv.opts.MaxTopicLevels); err != nil {
			codes[i] = packet.TopicFilterInvalid
			continue
		}
		full := string(f)
		s.mu.Lock()
		sub, ok := s.subs[full]
		delete(s.subs, full)
		s.mu.Unlock()
		if !ok || !srv.removeRoute(s, sub) {
			codes[i] = packet.NoSubscriptionExisted
		}
	}
	ack := packet.Unsuback{PacketID: p.PacketID}
	if c.version == packet.V5 {
		ack.ReasonCodes = codes
	}
	c.send(func(b []byte) []byte { return packet.AppendUnsuback(b, c.version, &ack) })
	srv.saveSession(s)
	return nil
}
