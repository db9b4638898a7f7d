package packet

// This file decodes and encodes MQTT 5 properties [MQTT-2.2.2].

// where is a set of places a property may appear: the packet types, with
// the will properties of CONNECT as a place of their own.
type where uint16

const (
	inConnect where = 1 << iota
	inWill
	inConnack
	inPublish
	inPubAck // PUBACK, PUBREC, PUBREL and PUBCOMP
	inSubscribe
	inSuback
	inUnsubscribe
	inUnsuback
	inDisconnect
	inAuth

	inAll = inConnect | inWill | inConnack | inPublish | inPubAck | inSubscribe | inSuback |
		inUnsubscribe | inUnsuback | inDisconnect | inAuth
)

// propWhere says, per property identifier, where the property is allowed
// (Table 2-4 of [MQTT-2.2.2.2]). An identifier not allowed in the packet
// being decoded makes it a Malformed Packet [MQTT-2.2.2.2].
var propWhere = [...]where{
	PropPayloadFormat:        inPublish | inWill,
	PropMessageExpiry:        inPublish | inWill,
	PropContentType:          inPublish | inWill,
	PropResponseTopic:        inPublish | inWill,
	PropCorrelationData:      inPublish | inWill,
	PropSubscriptionID:       inPublish | inSubscribe,
	PropSessionExpiry:        inConnect | inConnack | inDisconnect,
	PropAssignedClientID:     inConnack,
	PropServerKeepAlive:      inConnack,
	PropAuthMethod:           inConnect | inConnack | inAuth,
	PropAuthData:             inConnect | inConnack | inAuth,
	PropRequestProblemInfo:   inConnect,
	PropWillDelay:            inWill,
	PropRequestResponseInfo:  inConnect,
	PropResponseInfo:         inConnack,
	PropServerReference:      inConnack | inDisconnect,
	PropReasonString:         inConnack | inPubAck | inSuback | inUnsuback | inDisconnect | inAuth,
	PropReceiveMaximum:       inConnect | inConnack,
	PropTopicAliasMaximum:    inConnect | inConnack,
	PropTopicAlias:           inPublish,
	PropMaximumQoS:           inConnack,
	PropRetainAvailable:      inConnack,
	PropUserProperty:         inAll,
	PropMaximumPacketSize:    inConnect | inConnack,
	PropWildcardSubAvailable: inConnack,
	PropSubIDAvailable:       inConnack,
	PropSharedSubAvailable:   inConnack,
}

func allowed(id byte, w where) bool {
	return int(id) < len(propWhere) && propWhere[id]&w != 0
}

// errDuplicate is returned for a property that may appear only once but
// appears twice. The spec calls this a Protocol Error (e.g. [MQTT-3.3.2.3.2]);
// the broker asked for MalformedPacket, which lumps it with the other
// property-structure errors. Change it here if that decision changes.
const errDuplicate = MalformedPacket

// decodeProps decodes a property length and the properties that follow it
// from b into p, allowing only those valid in w, and returns the rest of b.
// p must have been Reset by the caller (every decoder resets all of its
// struct first, so that nothing of a previous packet survives an error).
func decodeProps(b []byte, w where, p *Properties) ([]byte, error) {
	n, b, ok := readVarInt(b)
	if !ok || int(n) > len(b) {
		return nil, MalformedPacket
	}
	props, rest := b[:n], b[n:]
	var err error
	for len(props) > 0 {
		// Identifiers are Variable Byte Integers, but all defined ones are
		// below 0x80, so any byte not in the table is unknown.
		id := props[0]
		if !allowed(id, w) {
			return nil, MalformedPacket
		}
		props = props[1:]
		switch id {
		case PropPayloadFormat:
			props, err = propByte(props, p, HasPayloadFormat, &p.PayloadFormat)
		case PropMessageExpiry:
			props, err = propUint32(props, p, HasMessageExpiry, &p.MessageExpiry, false)
		case PropContentType:
			props, err = propBytes(props, &p.ContentType, true)
		case PropResponseTopic:
			props, err = propBytes(props, &p.ResponseTopic, true)
		case PropCorrelationData:
			props, err = propBytes(props, &p.CorrelationData, false)
		case PropSubscriptionID:
			// Repeats in PUBLISH, one per matching subscription
			// [MQTT-3.3.4-4]; at most one in SUBSCRIBE [MQTT-3.8.2.1.2].
			if w != inPublish && len(p.SubscriptionIDs) > 0 {
				return nil, errDuplicate
			}
			var v uint32
			if v, props, ok = readVarInt(props); !ok {
				return nil, MalformedPacket
			}
			if v == 0 { // "It is a Protocol Error if the Subscription Identifier has a value of 0"
				return nil, ProtocolError
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, v)
		case PropSessionExpiry:
			props, err = propUint32(props, p, HasSessionExpiry, &p.SessionExpiry, false)
		case PropAssignedClientID:
			props, err = propBytes(props, &p.AssignedClientID, true)
		case PropServerKeepAlive:
			props, err = propUint16(props, p, HasServerKeepAlive, &p.ServerKeepAlive, false)
		case PropAuthMethod:
			props, err = propBytes(props, &p.AuthMethod, true)
		case PropAuthData:
			props, err = propBytes(props, &p.AuthData, false)
		case PropRequestProblemInfo:
			props, err = propByte(props, p, HasRequestProblemInfo, &p.RequestProblemInfo)
		case PropWillDelay:
			props, err = propUint32(props, p, HasWillDelay, &p.WillDelay, false)
		case PropRequestResponseInfo:
			props, err = propByte(props, p, HasRequestResponseInfo, &p.RequestResponseInfo)
		case PropResponseInfo:
			props, err = propBytes(props, &p.ResponseInfo, true)
		case PropServerReference:
			props, err = propBytes(props, &p.ServerReference, true)
		case PropReasonString:
			props, err = propBytes(props, &p.ReasonString, true)
		case PropReceiveMaximum:
			// "It is a Protocol Error ... to have the value 0" [MQTT-3.1.2.11.3][MQTT-3.2.2.3.3].
			props, err = propUint16(props, p, HasReceiveMaximum, &p.ReceiveMaximum, true)
		case PropTopicAliasMaximum:
			props, err = propUint16(props, p, HasTopicAliasMaximum, &p.TopicAliasMaximum, false)
		case PropTopicAlias:
			// Alias 0 and aliases above the negotiated maximum are left to
			// the broker, which must answer them with TopicAliasInvalid
			// [MQTT-3.3.2-8][MQTT-3.3.2-9]; the codec only parses.
			props, err = propUint16(props, p, HasTopicAlias, &p.TopicAlias, false)
		case PropMaximumQoS:
			props, err = propByte(props, p, HasMaximumQoS, &p.MaximumQoS)
		case PropRetainAvailable:
			props, err = propByte(props, p, HasRetainAvailable, &p.RetainAvailable)
		case PropUserProperty:
			// User properties may repeat, keys included [MQTT-3.1.2.11.8].
			var k, v []byte
			if k, props, ok = readString(props); ok {
				v, props, ok = readString(props)
			}
			if !ok {
				return nil, MalformedPacket
			}
			p.UserProperties = append(p.UserProperties, UserProperty{Key: k, Value: v})
		case PropMaximumPacketSize:
			// "It is a Protocol Error to include ... the value zero" [MQTT-3.1.2.11.4].
			props, err = propUint32(props, p, HasMaximumPacketSize, &p.MaximumPacketSize, true)
		case PropWildcardSubAvailable:
			props, err = propByte(props, p, HasWildcardSubAvailable, &p.WildcardSubAvail)
		case PropSubIDAvailable:
			props, err = propByte(props, p, HasSubIDAvailable, &p.SubIDAvailable)
		case PropSharedSubAvailable:
			props, err = propByte(props, p, HasSharedSubAvailable, &p.SharedSubAvailable)
		}
		if err != nil {
			return nil, err
		}
	}
	return rest, nil
}

// propByte reads a one-byte property. Every byte property defined by MQTT 5
// is a 0/1 switch, and a value other than 0 or 1 is a Protocol Error
// ([MQTT-3.1.2.11.6], [MQTT-3.2.2.3.4] and alike; for the Payload Format
// Indicator the spec only defines 0 and 1).
func propByte(b []byte, p *Properties, bit uint32, dst *byte) ([]byte, error) {
	if p.Has&bit != 0 {
		return nil, errDuplicate
	}
	if len(b) < 1 {
		return nil, MalformedPacket
	}
	if b[0] > 1 {
		return nil, ProtocolError
	}
	*dst = b[0]
	p.Has |= bit
	return b[1:], nil
}

// propUint16 reads a two-byte property; nonZero rejects 0 as a Protocol Error.
func propUint16(b []byte, p *Properties, bit uint32, dst *uint16, nonZero bool) ([]byte, error) {
	if p.Has&bit != 0 {
		return nil, errDuplicate
	}
	v, b, ok := readUint16(b)
	if !ok {
		return nil, MalformedPacket
	}
	if nonZero && v == 0 {
		return nil, ProtocolError
	}
	*dst = v
	p.Has |= bit
	return b, nil
}

// propUint32 reads a four-byte property; nonZero rejects 0 as a Protocol Error.
func propUint32(b []byte, p *Properties, bit uint32, dst *uint32, nonZero bool) ([]byte, error) {
	if p.Has&bit != 0 {
		return nil, errDuplicate
	}
	v, b, ok := readUint32(b)
	if !ok {
		return nil, MalformedPacket
	}
	if nonZero && v == 0 {
		return nil, ProtocolError
	}
	*dst = v
	p.Has |= bit
	return b, nil
}

// propBytes reads a string (utf8) or binary property. Presence is
// non-nil-ness: a decoded value is never nil, even when empty.
func propBytes(b []byte, dst *[]byte, utf8 bool) ([]byte, error) {
	if *dst != nil {
		return nil, errDuplicate
	}
	var v []byte
	var ok bool
	if utf8 {
		v, b, ok = readString(b)
	} else {
		v, b, ok = readBinary(b)
	}
	if !ok {
		return nil, MalformedPacket
	}
	*dst = v
	return b, nil
}

// The encoder writes properties in ascending identifier order and only
// those allowed in w, so that a Properties value filled for one packet can
// be reused for another without producing a malformed packet. propsLen and
// appendProps must walk the properties in the same way.

// propsLen is the size of the properties of p allowed in w, without the
// property length itself.
func propsLen(p *Properties, w where) int {
	n := 0
	scalar := func(bit uint32, id byte, size int) {
		if p.Has&bit != 0 && allowed(id, w) {
			n += 1 + size
		}
	}
	bytesProp := func(v []byte, id byte) {
		if v != nil && allowed(id, w) {
			n += 3 + len(v)
		}
	}
	scalar(HasPayloadFormat, PropPayloadFormat, 1)
	scalar(HasMessageExpiry, PropMessageExpiry, 4)
	bytesProp(p.ContentType, PropContentType)
	bytesProp(p.ResponseTopic, PropResponseTopic)
	bytesProp(p.CorrelationData, PropCorrelationData)
	if allowed(PropSubscriptionID, w) {
		for i, id := range p.SubscriptionIDs {
			if i > 0 && w != inPublish {
				break
			}
			n += 1 + VarIntSize(int(id))
		}
	}
	scalar(HasSessionExpiry, PropSessionExpiry, 4)
	bytesProp(p.AssignedClientID, PropAssignedClientID)
	scalar(HasServerKeepAlive, PropServerKeepAlive, 2)
	bytesProp(p.AuthMethod, PropAuthMethod)
	bytesProp(p.AuthData, PropAuthData)
	scalar(HasRequestProblemInfo, PropRequestProblemInfo, 1)
	scalar(HasWillDelay, PropWillDelay, 4)
	scalar(HasRequestResponseInfo, PropRequestResponseInfo, 1)
	bytesProp(p.ResponseInfo, PropResponseInfo)
	bytesProp(p.ServerReference, PropServerReference)
	bytesProp(p.ReasonString, PropReasonString)
	scalar(HasReceiveMaximum, PropReceiveMaximum, 2)
	scalar(HasTopicAliasMaximum, PropTopicAliasMaximum, 2)
	scalar(HasTopicAlias, PropTopicAlias, 2)
	scalar(HasMaximumQoS, PropMaximumQoS, 1)
	scalar(HasRetainAvailable, PropRetainAvailable, 1)
	for _, u := range p.UserProperties {
		n += 5 + len(u.Key) + len(u.Value)
	}
	scalar(HasMaximumPacketSize, PropMaximumPacketSize, 4)
	scalar(HasWildcardSubAvailable, PropWildcardSubAvailable, 1)
	scalar(HasSubIDAvailable, PropSubIDAvailable, 1)
	scalar(HasSharedSubAvailable, PropSharedSubAvailable, 1)
	return n
}

// appendProps appends the property length n (from propsLen) and the
// properties of p allowed in w.
func appendProps(dst []byte, p *Properties, w where, n int) []byte {
	dst = appendVarInt(dst, uint32(n))
	if n == 0 {
		return dst
	}
	u8 := func(bit uint32, id byte, v byte) {
		if p.Has&bit != 0 && allowed(id, w) {
			dst = append(dst, id, v)
		}
	}
	u16 := func(bit uint32, id byte, v uint16) {
		if p.Has&bit != 0 && allowed(id, w) {
			dst = appendUint16(append(dst, id), v)
		}
	}
	u32 := func(bit uint32, id byte, v uint32) {
		if p.Has&bit != 0 && allowed(id, w) {
			dst = appendUint32(append(dst, id), v)
		}
	}
	bytesProp := func(v []byte, id byte) {
		if v != nil && allowed(id, w) {
			dst = appendBinary(append(dst, id), v)
		}
	}
	u8(HasPayloadFormat, PropPayloadFormat, p.PayloadFormat)
	u32(HasMessageExpiry, PropMessageExpiry, p.MessageExpiry)
	bytesProp(p.ContentType, PropContentType)
	bytesProp(p.ResponseTopic, PropResponseTopic)
	bytesProp(p.CorrelationData, PropCorrelationData)
	if allowed(PropSubscriptionID, w) {
		for i, id := range p.SubscriptionIDs {
			if i > 0 && w != inPublish {
				break
			}
			dst = appendVarInt(append(dst, PropSubscriptionID), id)
		}
	}
	u32(HasSessionExpiry, PropSessionExpiry, p.SessionExpiry)
	bytesProp(p.AssignedClientID, PropAssignedClientID)
	u16(HasServerKeepAlive, PropServerKeepAlive, p.ServerKeepAlive)
	bytesProp(p.AuthMethod, PropAuthMethod)
	bytesProp(p.AuthData, PropAuthData)
	u8(HasRequestProblemInfo, PropRequestProblemInfo, p.RequestProblemInfo)
	u32(HasWillDelay, PropWillDelay, p.WillDelay)
	u8(HasRequestResponseInfo, PropRequestResponseInfo, p.RequestResponseInfo)
	bytesProp(p.ResponseInfo, PropResponseInfo)
	bytesProp(p.ServerReference, PropServerReference)
	bytesProp(p.ReasonString, PropReasonString)
	u16(HasReceiveMaximum, PropReceiveMaximum, p.ReceiveMaximum)
	u16(HasTopicAliasMaximum, PropTopicAliasMaximum, p.TopicAliasMaximum)
	u16(HasTopicAlias, PropTopicAlias, p.TopicAlias)
	u8(HasMaximumQoS, PropMaximumQoS, p.MaximumQoS)
	u8(HasRetainAvailable, PropRetainAvailable, p.RetainAvailable)
	for _, u := range p.UserProperties {
		dst = append(dst, PropUserProperty)
		dst = appendBinary(dst, u.Key)
		dst = appendBinary(dst, u.Value)
	}
	u32(HasMaximumPacketSize, PropMaximumPacketSize, p.MaximumPacketSize)
	u8(HasWildcardSubAvailable, PropWildcardSubAvailable, p.WildcardSubAvail)
	u8(HasSubIDAvailable, PropSubIDAvailable, p.SubIDAvailable)
	u8(HasSharedSubAvailable, PropSharedSubAvailable, p.SharedSubAvailable)
	return dst
}
