package packet

// CONNECT [MQTT-3.1].

// Connect flag bits [MQTT-3.1.2.3].
const (
	connReserved     = 0x01
	connCleanStart   = 0x02
	connWill         = 0x04
	connWillQoSShift = 3
	connWillRetain   = 0x20
	connPassword     = 0x40
	connUsername     = 0x80
)

// protocolName is the protocol name a version is announced with.
func protocolName(v Version) string {
	if v == V31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// DecodeConnect decodes CONNECT (any version; the version is in the packet).
// An unknown protocol name or level yields UnsupportedProtocolVersion.
//
// c.ProtocolName and c.Version are filled as soon as they are read, so on
// any later error the broker knows which CONNACK form to answer with.
func DecodeConnect(flags byte, body []byte, c *Connect) error {
	props, willProps := c.Properties, c.WillProperties
	props.Reset()
	willProps.Reset()
	*c = Connect{Properties: props, WillProperties: willProps}
	if flags != 0 { // [MQTT-2.1.3-1]
		return MalformedPacket
	}

	name, b, ok := readBinary(body)
	if !ok || len(b) < 1 {
		return MalformedPacket
	}
	c.ProtocolName, c.Version = name, Version(b[0])
	b = b[1:]
	// [MQTT-3.1.2-1][MQTT-3.1.2-2]: MQIsdp is level 3 only, MQTT 4 or 5.
	switch {
	case c.Version == V31 && string(name) == "MQIsdp":
	case (c.Version == V311 || c.Version == V5) && string(name) == "MQTT":
	default:
		return UnsupportedProtocolVersion
	}

	if len(b) < 3 {
		return MalformedPacket
	}
	f := b[0]
	c.KeepAlive = uint16(b[1])<<8 | uint16(b[2])
	b = b[3:]
	if f&connReserved != 0 { // [MQTT-3.1.2-3]
		return MalformedPacket
	}
	c.CleanStart = f&connCleanStart != 0
	c.WillFlag = f&connWill != 0
	c.WillQoS = (f >> connWillQoSShift) & 3
	c.WillRetain = f&connWillRetain != 0
	c.HasUsername = f&connUsername != 0
	c.HasPassword = f&connPassword != 0
	if !c.WillFlag && (c.WillQoS != 0 || c.WillRetain) { // [MQTT-3.1.2-11][MQTT-3.1.2-13][MQTT-3.1.2-15]
		return MalformedPacket
	}
	if c.WillQoS == 3 { // [MQTT-3.1.2-14]
		return MalformedPacket
	}
	// [MQTT-3.1.2-22]; MQTT 5 allows a password without a user name.
	if c.Version != V5 && c.HasPassword && !c.HasUsername {
		return MalformedPacket
	}

	var err error
	if c.Version == V5 {
		if b, err = decodeProps(b, inConnect, &c.Properties); err != nil {
			return err
		}
	}
	// An empty client id is valid in the codec; whether the broker accepts
	// or assigns one is its decision [MQTT-3.1.3-6][MQTT-3.1.3-8].
	if c.ClientID, b, ok = readString(b); !ok { // [MQTT-3.1.3-3]
		return MalformedPacket
	}
	if c.WillFlag {
		if c.Version == V5 {
			if b, err = decodeProps(b, inWill, &c.WillProperties); err != nil {
				return err
			}
		}
		if c.WillTopic, b, ok = readString(b); !ok { // [MQTT-3.1.3-11]
			return MalformedPacket
		}
		if c.WillPayload, b, ok = readBinary(b); !ok {
			return MalformedPacket
		}
	}
	if c.HasUsername {
		if c.Username, b, ok = readString(b); !ok { // [MQTT-3.1.3-12]
			return MalformedPacket
		}
	}
	if c.HasPassword {
		if c.Password, b, ok = readBinary(b); !ok {
			return MalformedPacket
		}
	}
	if len(b) != 0 {
		return MalformedPacket
	}
	// The will topic is a topic name: not empty, no wildcards
	// [MQTT-4.7.1-1][MQTT-4.7.3-1]. Checked last so that a malformed packet
	// is reported as such first.
	if c.WillFlag && (len(c.WillTopic) == 0 || hasWildcard(c.WillTopic)) {
		return TopicNameInvalid
	}
	return nil
}

// AppendConnect encodes CONNECT (c.Version selects the form). The protocol
// name follows the version; c.ProtocolName is not used. A user name or
// password is sent when its Has flag is set or it is non-nil; will QoS and
// retain only with the will flag.
func AppendConnect(dst []byte, c *Connect) []byte {
	v5 := c.Version == V5
	name := protocolName(c.Version)
	hasUser := c.HasUsername || c.Username != nil
	hasPass := c.HasPassword || c.Password != nil

	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(c.ClientID)
	var plen, wplen int
	if v5 {
		plen = propsLen(&c.Properties, inConnect)
		n += VarIntSize(plen) + plen
	}
	if c.WillFlag {
		if v5 {
			wplen = propsLen(&c.WillProperties, inWill)
			n += VarIntSize(wplen) + wplen
		}
		n += 2 + len(c.WillTopic) + 2 + len(c.WillPayload)
	}
	if hasUser {
		n += 2 + len(c.Username)
	}
	if hasPass {
		n += 2 + len(c.Password)
	}

	var f byte
	if c.CleanStart {
		f |= connCleanStart
	}
	if c.WillFlag {
		f |= connWill | (c.WillQoS&3)<<connWillQoSShift
		if c.WillRetain {
			f |= connWillRetain
		}
	}
	if hasUser {
		f |= connUsername
	}
	if hasPass {
		f |= connPassword
	}

	dst = appendHeader(dst, CONNECT, 0, n)
	dst = append(dst, 0, byte(len(name)))
	dst = append(dst, name...)
	dst = append(dst, byte(c.Version), f)
	dst = appendUint16(dst, c.KeepAlive)
	if v5 {
		dst = appendProps(dst, &c.Properties, inConnect, plen)
	}
	dst = appendBinary(dst, c.ClientID)
	if c.WillFlag {
		if v5 {
			dst = appendProps(dst, &c.WillProperties, inWill, wplen)
		}
		dst = appendBinary(dst, c.WillTopic)
		dst = appendBinary(dst, c.WillPayload)
	}
	if hasUser {
		dst = appendBinary(dst, c.Username)
	}
	if hasPass {
		dst = appendBinary(dst, c.Password)
	}
	return dst
}
