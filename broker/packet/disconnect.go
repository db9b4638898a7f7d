package packet

// DISCONNECT [MQTT-3.14], AUTH [MQTT-3.15] and the empty PINGREQ/PINGRESP
// [MQTT-3.12][MQTT-3.13]: the packets whose body may be empty.

// decodeReasonProps decodes the optional reason code and optional properties
// that make up the whole body of a v5 DISCONNECT or AUTH: an empty body
// means Success without properties, one byte a reason code without
// properties [MQTT-3.14.2.1][MQTT-3.15.2.1]. *rc and p must be reset.
func decodeReasonProps(body []byte, valid *reasonSet, w where, rc *ReasonCode, p *Properties) error {
	if len(body) == 0 {
		return nil
	}
	*rc = ReasonCode(body[0])
	if !valid.has(*rc) {
		return ProtocolError
	}
	if len(body) == 1 {
		return nil
	}
	rest, err := decodeProps(body[1:], w, p)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return MalformedPacket
	}
	return nil
}

// appendReasonProps encodes a DISCONNECT or AUTH body in its shortest form:
// nothing for Success without properties, the reason code alone when there
// are no properties.
func appendReasonProps(dst []byte, t Type, w where, rc ReasonCode, p *Properties) []byte {
	plen := propsLen(p, w)
	switch {
	case plen > 0:
		dst = appendHeader(dst, t, 0, 1+VarIntSize(plen)+plen)
		return appendProps(append(dst, byte(rc)), p, w, plen)
	case rc != Success:
		return append(appendHeader(dst, t, 0, 1), byte(rc))
	default:
		return appendHeader(dst, t, 0, 0)
	}
}

// DecodeDisconnect decodes DISCONNECT. On v3 the body must be empty; on v5
// a reason code a DISCONNECT may not carry is a ProtocolError. The Session
// Expiry Interval rule [MQTT-3.14.2-2] needs the CONNECT and is the broker's.
func DecodeDisconnect(v Version, flags byte, body []byte, d *Disconnect) error {
	d.ReasonCode = NormalDisconnection
	d.Properties.Reset()
	if flags != 0 { // [MQTT-2.1.3-1]
		return MalformedPacket
	}
	if v != V5 {
		if len(body) != 0 {
			return MalformedPacket
		}
		return nil
	}
	return decodeReasonProps(body, &disconnectReasons, inDisconnect, &d.ReasonCode, &d.Properties)
}

// AppendDisconnect encodes DISCONNECT (on v3 always the two-byte form).
func AppendDisconnect(dst []byte, v Version, d *Disconnect) []byte {
	if v != V5 {
		return appendHeader(dst, DISCONNECT, 0, 0)
	}
	return appendReasonProps(dst, DISCONNECT, inDisconnect, d.ReasonCode, &d.Properties)
}

// DecodeAuth decodes the v5 AUTH packet. An empty body means Success
// [MQTT-3.15.2.1]; a reason code other than Success, Continue
// Authentication and Re-authenticate is a ProtocolError.
func DecodeAuth(flags byte, body []byte, a *Auth) error {
	a.ReasonCode = Success
	a.Properties.Reset()
	if flags != 0 { // [MQTT-3.15.1-1]
		return MalformedPacket
	}
	return decodeReasonProps(body, &authReasons, inAuth, &a.ReasonCode, &a.Properties)
}

// AppendAuth encodes AUTH.
func AppendAuth(dst []byte, a *Auth) []byte {
	return appendReasonProps(dst, AUTH, inAuth, a.ReasonCode, &a.Properties)
}

// DecodeEmpty checks PINGREQ and PINGRESP: flags zero, body empty.
func DecodeEmpty(flags byte, body []byte) error {
	if flags != 0 || len(body) != 0 { // [MQTT-2.1.3-1]
		return MalformedPacket
	}
	return nil
}

// AppendPingreq and AppendPingresp encode the two-byte ping packets.
func AppendPingreq(dst []byte) []byte  { return append(dst, byte(PINGREQ)<<4, 0) }
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }
