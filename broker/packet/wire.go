package packet

import (
	"bytes"
	"unicode/utf8"
)

// This file holds the MQTT data representations [MQTT-1.5]: two-byte
// integers, length-prefixed strings and binary data, and variable byte
// integers. Readers return the value, the unread rest of the input and
// whether the read succeeded; every failure is a MalformedPacket, so the
// callers decide only what to return, never which code.

// readUint16 reads a Two Byte Integer [MQTT-1.5.2].
func readUint16(b []byte) (uint16, []byte, bool) {
	if len(b) < 2 {
		return 0, b, false
	}
	return uint16(b[0])<<8 | uint16(b[1]), b[2:], true
}

// readUint32 reads a Four Byte Integer [MQTT-1.5.3].
func readUint32(b []byte) (uint32, []byte, bool) {
	if len(b) < 4 {
		return 0, b, false
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), b[4:], true
}

// readBinary reads Binary Data [MQTT-1.5.6]: a two-byte length and that many
// bytes. The result aliases b; its capacity is cut to its length so that an
// append by the caller cannot overwrite the rest of the packet.
func readBinary(b []byte) ([]byte, []byte, bool) {
	if len(b) < 2 {
		return nil, b, false
	}
	n := 2 + (int(b[0])<<8 | int(b[1]))
	if n > len(b) {
		return nil, b, false
	}
	return b[2:n:n], b[n:], true
}

// readString reads a UTF-8 Encoded String [MQTT-1.5.4]: binary data that
// must be well-formed UTF-8 without U+0000.
func readString(b []byte) ([]byte, []byte, bool) {
	s, rest, ok := readBinary(b)
	if !ok || !validUTF8(s) {
		return nil, b, false
	}
	return s, rest, true
}

// validUTF8 reports whether s may be carried in a UTF-8 Encoded String:
// well-formed UTF-8, which excludes the surrogates U+D800..U+DFFF
// [MQTT-1.5.4-1], and free of the null character U+0000 [MQTT-1.5.4-2].
// The other code points the spec discourages (controls, non-characters)
// are the application's concern [MQTT-1.5.4-3].
func validUTF8(s []byte) bool {
	return bytes.IndexByte(s, 0) < 0 && utf8.Valid(s)
}

// readVarInt reads a Variable Byte Integer [MQTT-1.5.5]: at most four bytes,
// encoded with the minimum number of bytes [MQTT-1.5.5-1], so a final byte of
// zero after a continuation byte is rejected as well.
func readVarInt(b []byte) (uint32, []byte, bool) {
	var v uint32
	for i := 0; i < 4 && i < len(b); i++ {
		c := b[i]
		v |= uint32(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, b, false
			}
			return v, b[i+1:], true
		}
	}
	return 0, b, false
}

// VarIntSize is the number of bytes of the Variable Byte Integer encoding of
// n (1 to 4; n must be in 0..MaxRemainingLength). Packet sizes are
// 1 + VarIntSize(remaining) + remaining.
func VarIntSize(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	case n < 1<<21:
		return 3
	default:
		return 4
	}
}

// appendVarInt appends the minimal Variable Byte Integer encoding of n.
func appendVarInt(dst []byte, n uint32) []byte {
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	return append(dst, byte(n))
}

func appendUint16(dst []byte, n uint16) []byte {
	return append(dst, byte(n>>8), byte(n))
}

func appendUint32(dst []byte, n uint32) []byte {
	return append(dst, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// appendBinary appends a two-byte length and s. Strings longer than 65535
// bytes cannot be represented; keeping within that is the caller's job.
func appendBinary(dst []byte, s []byte) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

// appendHeader appends a fixed header: the first byte and the remaining
// length in its minimal encoding.
func appendHeader(dst []byte, t Type, flags byte, remaining int) []byte {
	dst = append(dst, byte(t)<<4|flags&0x0f)
	return appendVarInt(dst, uint32(remaining))
}

// hasWildcard reports whether a topic name contains a wildcard character,
// which only topic filters may hold [MQTT-3.3.2-2][MQTT-4.7.1-1].
func hasWildcard(topic []byte) bool {
	return bytes.IndexByte(topic, '+') >= 0 || bytes.IndexByte(topic, '#') >= 0
}
