package packet

// Clone returns a deep copy of p that shares no memory with it. Decoded
// properties alias the read buffer; the broker clones the ones it keeps
// (retained messages, queued messages, session state) so that the buffer
// can be reused. All byte fields of the copy share one allocation.
func (p *Properties) Clone() Properties {
	c := *p
	n := len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData) +
		len(p.AssignedClientID) + len(p.AuthMethod) + len(p.AuthData) +
		len(p.ResponseInfo) + len(p.ServerReference) + len(p.ReasonString)
	for _, u := range p.UserProperties {
		n += len(u.Key) + len(u.Value)
	}
	buf := make([]byte, 0, n)
	dup := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	c.ContentType = dup(p.ContentType)
	c.ResponseTopic = dup(p.ResponseTopic)
	c.CorrelationData = dup(p.CorrelationData)
	c.AssignedClientID = dup(p.AssignedClientID)
	c.AuthMethod = dup(p.AuthMethod)
	c.AuthData = dup(p.AuthData)
	c.ResponseInfo = dup(p.ResponseInfo)
	c.ServerReference = dup(p.ServerReference)
	c.ReasonString = dup(p.ReasonString)
	c.SubscriptionIDs = nil
	if len(p.SubscriptionIDs) > 0 {
		c.SubscriptionIDs = append([]uint32(nil), p.SubscriptionIDs...)
	}
	c.UserProperties = nil
	if len(p.UserProperties) > 0 {
		c.UserProperties = make([]UserProperty, len(p.UserProperties))
		for i, u := range p.UserProperties {
			c.UserProperties[i] = UserProperty{Key: dup(u.Key), Value: dup(u.Value)}
		}
	}
	return c
}
