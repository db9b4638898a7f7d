package packet

// CONNACK [MQTT-3.2].

// DecodeConnack decodes CONNACK (used by clients: tests and the load tool).
//
// On v3 c.ReasonCode is the raw return code 0-5 [MQTT-3.2.2.3]; MQTT 3.1 has
// no session present flag, so c.SessionPresent is always false there. On v5
// the properties are mandatory and the reason code must be one CONNACK may
// carry (ProtocolError otherwise).
func DecodeConnack(v Version, flags byte, body []byte, c *Connack) error {
	c.SessionPresent, c.ReasonCode = false, Success
	c.Properties.Reset()
	if flags != 0 { // [MQTT-2.1.3-1]
		return MalformedPacket
	}
	if len(body) < 2 {
		return MalformedPacket
	}
	ack, code := body[0], ReasonCode(body[1])
	if v != V31 {
		if ack&^1 != 0 { // [MQTT-3.2.2-1]
			return MalformedPacket
		}
		c.SessionPresent = ack&1 != 0
	}
	c.ReasonCode = code
	if v != V5 {
		if len(body) != 2 {
			return MalformedPacket
		}
		if code > 5 { // return codes 6-255 are reserved [MQTT-3.2.2.3]
			return ProtocolError
		}
		return nil
	}
	if !connackReasons.has(code) {
		return ProtocolError
	}
	rest, err := decodeProps(body[2:], inConnack, &c.Properties)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return MalformedPacket
	}
	return nil
}

// v3ReturnCode is the MQTT 3.1/3.1.1 CONNACK return code for rc: the raw
// return codes 1-5 (as DecodeConnack yields them) pass through, since no
// CONNACK reason code has those values, and reason codes are mapped with
// ReasonCode.V3ConnackCode.
func v3ReturnCode(rc ReasonCode) byte {
	if rc >= 1 && rc <= 5 {
		return byte(rc)
	}
	return rc.V3ConnackCode()
}

// AppendConnack encodes CONNACK. On v3 the return code comes from
// c.ReasonCode (see v3ReturnCode) and the properties are dropped; MQTT 3.1
// has no session present flag.
func AppendConnack(dst []byte, v Version, c *Connack) []byte {
	var ack byte
	if c.SessionPresent && v != V31 {
		ack = 1
	}
	if v != V5 {
		dst = appendHeader(dst, CONNACK, 0, 2)
		return append(dst, ack, v3ReturnCode(c.ReasonCode))
	}
	plen := propsLen(&c.Properties, inConnack)
	dst = appendHeader(dst, CONNACK, 0, 2+VarIntSize(plen)+plen)
	dst = append(dst, ack, byte(c.ReasonCode))
	return appendProps(dst, &c.Properties, inConnack, plen)
}
