package packet

// The codec API the broker is written against. Every decoder takes the flags
// nibble of the fixed header and the packet body (the bytes after the fixed
// header, exactly Remaining long) and fills a caller-owned struct, reusing
// its slices. Every encoder appends one whole packet, fixed header included,
// to dst and returns the extended slice.
//
// The decoders and encoders of each packet type live in a file of their
// own (connect.go, publish.go, ...); the MQTT data types in wire.go and the
// properties in props.go. generic.go has type-switching helpers for tests
// and tools.

// DecodeHeader parses a fixed header at the start of buf [MQTT-2.1]. It
// returns n == 0 and a nil error when buf does not yet hold a whole fixed
// header; err is MalformedPacket for a remaining length longer than four
// bytes or not minimally encoded [MQTT-1.5.5-1], and for the reserved
// packet type 0. The flags are checked by the packet's decoder.
func DecodeHeader(buf []byte) (t Type, flags byte, remaining int, n int, err error) {
	if len(buf) == 0 {
		return 0, 0, 0, 0, nil
	}
	t, flags = Type(buf[0]>>4), buf[0]&0x0f
	if t == 0 { // reserved [MQTT-2.1.2]
		return 0, 0, 0, 0, MalformedPacket
	}
	for i := 1; i < 5; i++ {
		if i >= len(buf) {
			return 0, 0, 0, 0, nil
		}
		c := buf[i]
		remaining |= int(c&0x7f) << (7 * (i - 1))
		if c < 0x80 {
			if c == 0 && i > 1 { // [MQTT-1.5.5-1]
				return 0, 0, 0, 0, MalformedPacket
			}
			return t, flags, remaining, i + 1, nil
		}
	}
	return 0, 0, 0, 0, MalformedPacket // a fifth length byte [MQTT-1.5.5]
}
