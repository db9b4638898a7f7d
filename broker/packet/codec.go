package packet

// This file fixes the codec API the broker is written against. Every decoder
// takes the flags nibble of the fixed header and the packet body (the bytes
// after the fixed header, exactly Remaining long) and fills a caller-owned
// struct, reusing its slices. Every encoder appends one whole packet,
// fixed header included, to dst and returns the extended slice.

// DecodeHeader parses a fixed header at the start of buf. It returns n == 0
// and a nil error when buf does not yet hold a whole fixed header; err is
// MalformedPacket for a remaining length longer than four bytes.
func DecodeHeader(buf []byte) (t Type, flags byte, remaining int, n int, err error) {
	panic("unimplemented")
}

// DecodeConnect decodes CONNECT (any version; the version is in the packet).
// An unknown protocol name or level yields UnsupportedProtocolVersion.
func DecodeConnect(flags byte, body []byte, c *Connect) error { panic("unimplemented") }

// DecodeConnack decodes CONNACK (used by clients: tests and the load tool).
func DecodeConnack(v Version, flags byte, body []byte, c *Connack) error { panic("unimplemented") }

// DecodePublish decodes PUBLISH. QoS 3, a wildcard in the topic, a missing
// packet id (0) at QoS > 0 and DUP at QoS 0 are errors.
func DecodePublish(v Version, flags byte, body []byte, p *Publish) error { panic("unimplemented") }

// DecodeAck decodes PUBACK, PUBREC, PUBREL and PUBCOMP; t says which.
func DecodeAck(v Version, t Type, flags byte, body []byte, a *Ack) error { panic("unimplemented") }

// DecodeSubscribe decodes SUBSCRIBE.
func DecodeSubscribe(v Version, flags byte, body []byte, s *Subscribe) error {
	panic("unimplemented")
}

// DecodeSuback decodes SUBACK (client side).
func DecodeSuback(v Version, flags byte, body []byte, s *Suback) error { panic("unimplemented") }

// DecodeUnsubscribe decodes UNSUBSCRIBE.
func DecodeUnsubscribe(v Version, flags byte, body []byte, u *Unsubscribe) error {
	panic("unimplemented")
}

// DecodeUnsuback decodes UNSUBACK (client side).
func DecodeUnsuback(v Version, flags byte, body []byte, u *Unsuback) error {
	panic("unimplemented")
}

// DecodeDisconnect decodes DISCONNECT.
func DecodeDisconnect(v Version, flags byte, body []byte, d *Disconnect) error {
	panic("unimplemented")
}

// DecodeAuth decodes the v5 AUTH packet.
func DecodeAuth(flags byte, body []byte, a *Auth) error { panic("unimplemented") }

// DecodeEmpty checks PINGREQ and PINGRESP: flags zero, body empty.
func DecodeEmpty(flags byte, body []byte) error { panic("unimplemented") }

// AppendConnect encodes CONNECT (c.Version selects the form).
func AppendConnect(dst []byte, c *Connect) []byte { panic("unimplemented") }

// AppendConnack encodes CONNACK.
func AppendConnack(dst []byte, v Version, c *Connack) []byte { panic("unimplemented") }

// AppendPublish encodes PUBLISH.
func AppendPublish(dst []byte, v Version, p *Publish) []byte { panic("unimplemented") }

// PublishSize is the encoded size of p, fixed header included, without
// encoding it (for the client's Maximum Packet Size).
func PublishSize(v Version, p *Publish) int { panic("unimplemented") }

// AppendAck encodes PUBACK, PUBREC, PUBREL or PUBCOMP (a.Type says which).
// On v5 the reason code and properties are omitted when they may be.
func AppendAck(dst []byte, v Version, a *Ack) []byte { panic("unimplemented") }

// AppendSubscribe encodes SUBSCRIBE.
func AppendSubscribe(dst []byte, v Version, s *Subscribe) []byte { panic("unimplemented") }

// AppendSuback encodes SUBACK.
func AppendSuback(dst []byte, v Version, s *Suback) []byte { panic("unimplemented") }

// AppendUnsubscribe encodes UNSUBSCRIBE.
func AppendUnsubscribe(dst []byte, v Version, u *Unsubscribe) []byte { panic("unimplemented") }

// AppendUnsuback encodes UNSUBACK (reason codes only on v5).
func AppendUnsuback(dst []byte, v Version, u *Unsuback) []byte { panic("unimplemented") }

// AppendDisconnect encodes DISCONNECT (on v3 always the two-byte form).
func AppendDisconnect(dst []byte, v Version, d *Disconnect) []byte { panic("unimplemented") }

// AppendAuth encodes AUTH.
func AppendAuth(dst []byte, a *Auth) []byte { panic("unimplemented") }

// AppendPingreq and AppendPingresp encode the two-byte ping packets.
func AppendPingreq(dst []byte) []byte  { return append(dst, byte(PINGREQ)<<4, 0) }
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }
