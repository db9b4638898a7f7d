package packet

// SUBSCRIBE [MQTT-3.8] and SUBACK [MQTT-3.9].

// Subscription options bits of MQTT 5 that MQTT 3 does not have.
const (
	subRetainHandlingShift = 4
	subV3Reserved          = 0xfc // all but QoS [MQTT-3-8.3-4]
	subV5Reserved          = 0xc0 // [MQTT-3.8.3-5]
)

// DecodeSubscribe decodes SUBSCRIBE. Topic filters are only checked for
// being UTF-8 strings: their syntax, shared subscriptions (and No Local on
// them [MQTT-3.8.3-4]) are the broker's, which answers per filter in the
// SUBACK.
func DecodeSubscribe(v Version, flags byte, body []byte, s *Subscribe) error {
	s.PacketID = 0
	s.Subscriptions = s.Subscriptions[:0]
	s.Properties.Reset()
	if flags != 0x02 { // [MQTT-3.8.1-1]
		return MalformedPacket
	}
	id, b, ok := readUint16(body)
	if !ok {
		return MalformedPacket
	}
	s.PacketID = id
	if v == V5 {
		var err error
		if b, err = decodeProps(b, inSubscribe, &s.Properties); err != nil {
			return err
		}
	}
	for len(b) > 0 {
		var sub Subscription
		if sub.Filter, b, ok = readString(b); !ok || len(b) < 1 { // [MQTT-3.8.3-1]
			return MalformedPacket
		}
		o := b[0]
		b = b[1:]
		sub.QoS = o & SubQoSMask
		if v != V5 {
			// Reserved bits set or QoS 3 make the packet malformed [MQTT-3-8.3-4].
			if o&subV3Reserved != 0 || sub.QoS == 3 {
				return MalformedPacket
			}
		} else {
			sub.NoLocal = o&SubNoLocal != 0
			sub.RetainAsPublished = o&SubRetainAsPublished != 0
			sub.RetainHandling = (o & SubRetainHandlingMsk) >> subRetainHandlingShift
			if o&subV5Reserved != 0 { // [MQTT-3.8.3-5]
				return MalformedPacket
			}
			// The spec calls Retain Handling 3 a Protocol Error
			// [MQTT-3.8.3.1]; the broker asked for MalformedPacket, like
			// the reserved bits next to it.
			if sub.RetainHandling == 3 {
				return MalformedPacket
			}
			if sub.QoS == 3 { // "It is a Protocol Error if the Maximum QoS field has the value 3"
				return ProtocolError
			}
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	if len(s.Subscriptions) == 0 { // [MQTT-3.8.3-3]
		return ProtocolError
	}
	if s.PacketID == 0 { // [MQTT-2.2.1-3]
		return ProtocolError
	}
	return nil
}

// subOptions is the options byte of sub; v3 has the QoS only.
func subOptions(v Version, sub *Subscription) byte {
	o := sub.QoS & SubQoSMask
	if v != V5 {
		return o
	}
	if sub.NoLocal {
		o |= SubNoLocal
	}
	if sub.RetainAsPublished {
		o |= SubRetainAsPublished
	}
	return o | (sub.RetainHandling<<subRetainHandlingShift)&SubRetainHandlingMsk
}

// AppendSubscribe encodes SUBSCRIBE.
func AppendSubscribe(dst []byte, v Version, s *Subscribe) []byte {
	n := 2
	for i := range s.Subscriptions {
		n += 3 + len(s.Subscriptions[i].Filter)
	}
	var plen int
	if v == V5 {
		plen = propsLen(&s.Properties, inSubscribe)
		n += VarIntSize(plen) + plen
	}
	dst = appendHeader(dst, SUBSCRIBE, 0x02, n)
	dst = appendUint16(dst, s.PacketID)
	if v == V5 {
		dst = appendProps(dst, &s.Properties, inSubscribe, plen)
	}
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		dst = appendBinary(dst, sub.Filter)
		dst = append(dst, subOptions(v, sub))
	}
	return dst
}

// DecodeSuback decodes SUBACK (client side). Each code must be one SUBACK
// may carry: 0, 1, 2 or 0x80 on v3 [MQTT-3.9.3-2], the SUBACK reason codes
// on v5; ProtocolError otherwise, and also for an empty list.
func DecodeSuback(v Version, flags byte, body []byte, s *Suback) error {
	s.PacketID = 0
	s.ReasonCodes = s.ReasonCodes[:0]
	s.Properties.Reset()
	if flags != 0 { // [MQTT-2.1.3-1]
		return MalformedPacket
	}
	id, b, ok := readUint16(body)
	if !ok {
		return MalformedPacket
	}
	s.PacketID = id
	valid := &subackV3Codes
	if v == V5 {
		var err error
		if b, err = decodeProps(b, inSuback, &s.Properties); err != nil {
			return err
		}
		valid = &subackReasons
	}
	if len(b) == 0 {
		return ProtocolError
	}
	for _, c := range b {
		rc := ReasonCode(c)
		if !valid.has(rc) {
			return ProtocolError
		}
		s.ReasonCodes = append(s.ReasonCodes, rc)
	}
	return nil
}

// v3SubackCode maps a reason code onto the MQTT 3.1.1 SUBACK return codes:
// the granted QoS, or 0x80 for any failure [MQTT-3.9.3-2].
func v3SubackCode(rc ReasonCode) byte {
	if rc <= GrantedQoS2 {
		return byte(rc)
	}
	return byte(UnspecifiedError)
}

// AppendSuback encodes SUBACK.
func AppendSuback(dst []byte, v Version, s *Suback) []byte {
	n := 2 + len(s.ReasonCodes)
	if v != V5 {
		dst = appendHeader(dst, SUBACK, 0, n)
		dst = appendUint16(dst, s.PacketID)
		for _, rc := range s.ReasonCodes {
			dst = append(dst, v3SubackCode(rc))
		}
		return dst
	}
	plen := propsLen(&s.Properties, inSuback)
	n += VarIntSize(plen) + plen
	dst = appendHeader(dst, SUBACK, 0, n)
	dst = appendUint16(dst, s.PacketID)
	dst = appendProps(dst, &s.Properties, inSuback, plen)
	for _, rc := range s.ReasonCodes {
		dst = append(dst, byte(rc))
	}
	return dst
}
