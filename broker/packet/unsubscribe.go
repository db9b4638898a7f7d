package packet

// UNSUBSCRIBE [MQTT-3.10] and UNSUBACK [MQTT-3.11].

// DecodeUnsubscribe decodes UNSUBSCRIBE. Filters are only checked for being
// UTF-8 strings [MQTT-3.10.3-1]; their syntax is the broker's.
func DecodeUnsubscribe(v Version, flags byte, body []byte, u *Unsubscribe) error {
	u.PacketID = 0
	u.Filters = u.Filters[:0]
	u.Properties.Reset()
	if flags != 0x02 { // [MQTT-3.10.1-1]
		return MalformedPacket
	}
	id, b, ok := readUint16(body)
	if !ok {
		return MalformedPacket
	}
	u.PacketID = id
	if v == V5 {
		var err error
		if b, err = decodeProps(b, inUnsubscribe, &u.Properties); err != nil {
			return err
		}
	}
	for len(b) > 0 {
		var f []byte
		if f, b, ok = readString(b); !ok {
			return MalformedPacket
		}
		u.Filters = append(u.Filters, f)
	}
	if len(u.Filters) == 0 { // [MQTT-3.10.3-2]
		return ProtocolError
	}
	if u.PacketID == 0 { // [MQTT-2.2.1-3]
		return ProtocolError
	}
	return nil
}

// AppendUnsubscribe encodes UNSUBSCRIBE.
func AppendUnsubscribe(dst []byte, v Version, u *Unsubscribe) []byte {
	n := 2
	for _, f := range u.Filters {
		n += 2 + len(f)
	}
	var plen int
	if v == V5 {
		plen = propsLen(&u.Properties, inUnsubscribe)
		n += VarIntSize(plen) + plen
	}
	dst = appendHeader(dst, UNSUBSCRIBE, 0x02, n)
	dst = appendUint16(dst, u.PacketID)
	if v == V5 {
		dst = appendProps(dst, &u.Properties, inUnsubscribe, plen)
	}
	for _, f := range u.Filters {
		dst = appendBinary(dst, f)
	}
	return dst
}

// DecodeUnsuback decodes UNSUBACK (client side). On v3 it is a packet id
// only; on v5 the properties and at least one reason code follow, each one
// UNSUBACK may carry (ProtocolError otherwise).
func DecodeUnsuback(v Version, flags byte, body []byte, u *Unsuback) error {
	u.PacketID = 0
	u.ReasonCodes = u.ReasonCodes[:0]
	u.Properties.Reset()
	if flags != 0 { // [MQTT-2.1.3-1]
		return MalformedPacket
	}
	id, b, ok := readUint16(body)
	if !ok {
		return MalformedPacket
	}
	u.PacketID = id
	if v != V5 {
		if len(b) != 0 {
			return MalformedPacket
		}
		return nil
	}
	b, err := decodeProps(b, inUnsuback, &u.Properties)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return ProtocolError
	}
	for _, c := range b {
		rc := ReasonCode(c)
		if !unsubackReasons.has(rc) {
			return ProtocolError
		}
		u.ReasonCodes = append(u.ReasonCodes, rc)
	}
	return nil
}

// AppendUnsuback encodes UNSUBACK (reason codes only on v5).
func AppendUnsuback(dst []byte, v Version, u *Unsuback) []byte {
	if v != V5 {
		dst = appendHeader(dst, UNSUBACK, 0, 2)
		return appendUint16(dst, u.PacketID)
	}
	plen := propsLen(&u.Properties, inUnsuback)
	dst = appendHeader(dst, UNSUBACK, 0, 2+VarIntSize(plen)+plen+len(u.ReasonCodes))
	dst = appendUint16(dst, u.PacketID)
	dst = appendProps(dst, &u.Properties, inUnsuback, plen)
	for _, rc := range u.ReasonCodes {
		dst = append(dst, byte(rc))
	}
	return dst
}
