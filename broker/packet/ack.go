package packet

// PUBACK, PUBREC, PUBREL and PUBCOMP [MQTT-3.4]..[MQTT-3.7]: a packet id,
// and on v5 an optional reason code and optional properties. The v3 UNSUBACK
// has the same two-byte form and is accepted here too.

// ackFlags is the fixed header flags nibble of an acknowledgement: 0b0010
// for PUBREL [MQTT-3.6.1-1], zero for the others [MQTT-2.1.3-1].
func ackFlags(t Type) byte {
	if t == PUBREL {
		return 0x02
	}
	return 0
}

// ackWhere is where the properties of an acknowledgement type belong.
func ackWhere(t Type) where {
	if t == UNSUBACK {
		return inUnsuback
	}
	return inPubAck
}

// DecodeAck decodes PUBACK, PUBREC, PUBREL and PUBCOMP; t says which. On v3
// t may also be UNSUBACK (v5 UNSUBACK carries a list: use DecodeUnsuback).
//
// On v5 a body of 2 bytes means Success without properties and one of 3
// bytes a reason code without properties [MQTT-3.4.2.1][MQTT-3.4.2.2.1].
// A reason code the packet type may not carry is a ProtocolError. Packet id
// 0 is not rejected: no packet is in flight under it, which the broker
// reports as PacketIdentifierNotFound or ignores.
func DecodeAck(v Version, t Type, flags byte, body []byte, a *Ack) error {
	a.Type, a.PacketID, a.ReasonCode = t, 0, Success
	a.Properties.Reset()
	switch t {
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
	case UNSUBACK:
		if v == V5 {
			return MalformedPacket
		}
	default:
		return MalformedPacket
	}
	if flags != ackFlags(t) {
		return MalformedPacket
	}
	id, b, ok := readUint16(body)
	if !ok {
		return MalformedPacket
	}
	a.PacketID = id
	if v != V5 || len(b) == 0 {
		if len(b) != 0 {
			return MalformedPacket
		}
		return nil
	}
	a.ReasonCode = ReasonCode(b[0])
	if !ackReasons(t).has(a.ReasonCode) {
		return ProtocolError
	}
	if len(b) == 1 {
		return nil
	}
	b, err := decodeProps(b[1:], inPubAck, &a.Properties)
	if err != nil {
		return err
	}
	if len(b) != 0 {
		return MalformedPacket
	}
	return nil
}

// AppendAck encodes PUBACK, PUBREC, PUBREL or PUBCOMP (a.Type says which).
// On v5 the reason code and properties are omitted when they may be: a
// Success without properties is the two-byte form, a reason code without
// properties leaves out the property length [MQTT-3.4.2.1].
//
// a.Type may also be UNSUBACK: on v3 it is the two-byte packet, on v5 an
// UNSUBACK with the single reason code a.ReasonCode.
func AppendAck(dst []byte, v Version, a *Ack) []byte {
	t := a.Type
	if v != V5 {
		dst = appendHeader(dst, t, ackFlags(t), 2)
		return appendUint16(dst, a.PacketID)
	}
	w := ackWhere(t)
	plen := propsLen(&a.Properties, w)
	n := 2
	switch {
	case plen > 0 || t == UNSUBACK: // UNSUBACK always has its property length
		n += 1 + VarIntSize(plen) + plen
	case a.ReasonCode != Success:
		n++
	}
	dst = appendHeader(dst, t, ackFlags(t), n)
	dst = appendUint16(dst, a.PacketID)
	if t == UNSUBACK {
		dst = appendProps(dst, &a.Properties, w, plen)
		return append(dst, byte(a.ReasonCode))
	}
	if n > 2 {
		dst = append(dst, byte(a.ReasonCode))
	}
	if n > 3 {
		dst = appendProps(dst, &a.Properties, w, plen)
	}
	return dst
}
