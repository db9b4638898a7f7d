package packet

// PUBLISH [MQTT-3.3], the hot path: decoding and encoding allocate nothing
// once the caller's structs and buffers have grown to size.

// PUBLISH fixed header flags [MQTT-3.3.1].
const (
	pubRetain   = 0x01
	pubQoSShift = 1
	pubDup      = 0x08
)

// DecodePublish decodes PUBLISH. QoS 3, a wildcard in the topic, a missing
// packet id (0) at QoS > 0 and DUP at QoS 0 are errors.
//
// An empty topic is accepted on v5, where a Topic Alias may stand for it;
// whether the alias is there and valid is the broker's check
// [MQTT-3.3.2-8]. On v3 an empty topic is TopicNameInvalid [MQTT-4.7.3-1].
// A Subscription Identifier sent by a client [MQTT-3.3.4-6] and the payload
// format check [MQTT-3.3.2-4] are also left to the broker: the codec is
// used in both directions.
func DecodePublish(v Version, flags byte, body []byte, p *Publish) error {
	p.Dup = flags&pubDup != 0
	p.QoS = (flags >> pubQoSShift) & 3
	p.Retain = flags&pubRetain != 0
	p.Topic, p.PacketID, p.Payload = nil, 0, nil
	p.Properties.Reset()
	if p.QoS == 3 { // [MQTT-3.3.1-4]
		return MalformedPacket
	}
	if p.Dup && p.QoS == 0 { // [MQTT-3.3.1-2]
		return MalformedPacket
	}
	topic, b, ok := readString(body) // [MQTT-3.3.2-1]
	if !ok {
		return MalformedPacket
	}
	p.Topic = topic
	if p.QoS > 0 {
		if p.PacketID, b, ok = readUint16(b); !ok {
			return MalformedPacket
		}
	}
	if v == V5 {
		var err error
		if b, err = decodeProps(b, inPublish, &p.Properties); err != nil {
			return err
		}
	}
	p.Payload = b[:len(b):len(b)]
	// Content errors after structural ones, so that a packet that is both
	// malformed and wrong is reported as malformed.
	if hasWildcard(topic) { // [MQTT-3.3.2-2]
		return TopicNameInvalid
	}
	if len(topic) == 0 && v != V5 { // [MQTT-4.7.3-1]
		return TopicNameInvalid
	}
	if p.QoS > 0 && p.PacketID == 0 { // [MQTT-2.2.1-3]
		return ProtocolError
	}
	return nil
}

// publishRemaining is the remaining length of p and the length of its
// properties (v5).
func publishRemaining(v Version, p *Publish) (n, plen int) {
	n = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS&3 > 0 {
		n += 2
	}
	if v == V5 {
		plen = propsLen(&p.Properties, inPublish)
		n += VarIntSize(plen) + plen
	}
	return n, plen
}

// AppendPublish encodes PUBLISH. DUP and the packet id are written only for
// QoS > 0 [MQTT-3.3.1-2][MQTT-2.2.1-2].
func AppendPublish(dst []byte, v Version, p *Publish) []byte {
	n, plen := publishRemaining(v, p)
	qos := p.QoS & 3
	flags := qos << pubQoSShift
	if p.Dup && qos > 0 {
		flags |= pubDup
	}
	if p.Retain {
		flags |= pubRetain
	}
	dst = appendHeader(dst, PUBLISH, flags, n)
	dst = appendBinary(dst, p.Topic)
	if qos > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v == V5 {
		dst = appendProps(dst, &p.Properties, inPublish, plen)
	}
	return append(dst, p.Payload...)
}

// PublishSize is the encoded size of p, fixed header included, without
// encoding it (for the client's Maximum Packet Size [MQTT-3.1.2-24]).
func PublishSize(v Version, p *Publish) int {
	n, _ := publishRemaining(v, p)
	return 1 + VarIntSize(n) + n
}
