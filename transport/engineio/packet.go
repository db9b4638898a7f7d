package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"unicode/utf8"
)

// PacketType is an Engine.IO packet type, the same in v3 and v4.
type PacketType byte

const (
	OpenPacket PacketType = iota
	ClosePacket
	PingPacket
	PongPacket
	MessagePacket
	UpgradePacket
	NoopPacket
)

// Packet is one Engine.IO packet. Binary is meaningful for messages only:
// their Data is raw bytes rather than text.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// Message is the payload of an Engine.IO message packet, as upper layers
// send it.
type Message struct {
	Data   []byte
	Binary bool
}

// ErrPayload reports a malformed polling body or websocket frame.
var ErrPayload = errors.New("engineio: malformed payload")

const (
	recordSep = 0x1e // v4 polling: between packets
	maxDigits = 10   // v3 polling: length prefix, enough for any body we accept
)

var b64 = base64.StdEncoding

// decodeText decodes a text packet: a type digit, then the data. Data
// aliases s.
func decodeText(s []byte) (Packet, error) {
	if len(s) == 0 || s[0] < '0' || s[0] > '6' {
		return Packet{}, ErrPayload
	}
	return Packet{Type: PacketType(s[0] - '0'), Data: s[1:]}, nil
}

func decodeBase64(s []byte) ([]byte, error) {
	out := make([]byte, b64.DecodedLen(len(s)))
	n, err := b64.Decode(out, s)
	if err != nil {
		return nil, ErrPayload
	}
	return out[:n], nil
}

// DecodePayloadV4 splits a v4 polling body: packets separated by 0x1e, a
// binary message written as 'b' + standard base64.
func DecodePayloadV4(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, ErrPayload
	}
	var pkts []Packet
	for len(body) > 0 {
		part := body
		if i := bytes.IndexByte(body, recordSep); i >= 0 {
			part, body = body[:i], body[i+1:]
			if len(body) == 0 {
				return nil, ErrPayload // a separator must be followed by a packet
			}
		} else {
			body = nil
		}
		if len(part) > 0 && part[0] == 'b' {
			data, err := decodeBase64(part[1:])
			if err != nil {
				return nil, err
			}
			pkts = append(pkts, Packet{Type: MessagePacket, Data: data, Binary: true})
			continue
		}
		p, err := decodeText(part)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// AppendPayloadV4 encodes pkts as a v4 polling body.
func AppendPayloadV4(dst []byte, pkts []Packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, recordSep)
		}
		if p.Binary {
			dst = append(dst, 'b')
			dst = b64.AppendEncode(dst, p.Data)
			continue
		}
		dst = append(dst, '0'+byte(p.Type))
		dst = append(dst, p.Data...)
	}
	return dst
}

// DecodePayloadV3Text decodes a v3 text polling body: each packet is
// "<len>:<packet>" where len counts UTF-16 code units (JavaScript string
// length), and a binary packet is "b<type><base64>".
func DecodePayloadV3Text(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, ErrPayload
	}
	var pkts []Packet
	for len(body) > 0 {
		colon := bytes.IndexByte(body, ':')
		if colon <= 0 || colon > maxDigits {
			return nil, ErrPayload
		}
		n, err := strconv.Atoi(string(body[:colon]))
		if err != nil || n <= 0 {
			return nil, ErrPayload
		}
		body = body[colon+1:]
		size, ok := utf16Prefix(body, n)
		if !ok {
			return nil, ErrPayload
		}
		p, err := decodeV3String(body[:size])
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
		body = body[size:]
	}
	return pkts, nil
}

// decodeV3String decodes one v3 string-encoded packet, base64 binary
// included.
func decodeV3String(s []byte) (Packet, error) {
	if len(s) >= 2 && s[0] == 'b' {
		if s[1] < '0' || s[1] > '6' {
			return Packet{}, ErrPayload
		}
		data, err := decodeBase64(s[2:])
		if err != nil {
			return Packet{}, err
		}
		return Packet{Type: PacketType(s[1] - '0'), Data: data, Binary: true}, nil
	}
	return decodeText(s)
}

// utf16Prefix returns how many bytes of s hold exactly n UTF-16 code units,
// or false when s is shorter, not UTF-8, or n splits a surrogate pair.
func utf16Prefix(s []byte, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(s) {
			return 0, false
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size <= 1 {
			return 0, false
		}
		units := 1
		if r > 0xFFFF {
			units = 2
		}
		if units > n {
			return 0, false
		}
		n -= units
		i += size
	}
	return i, true
}

// utf16Len is the JavaScript length of the UTF-8 text s.
func utf16Len(s []byte) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		n++
		if r > 0xFFFF {
			n++
		}
		s = s[size:]
	}
	return n
}

// AppendPayloadV3Text encodes pkts as a v3 text polling body, binary
// messages as "b4<base64>".
func AppendPayloadV3Text(dst []byte, pkts []Packet) []byte {
	for _, p := range pkts {
		if p.Binary {
			n := 2 + b64.EncodedLen(len(p.Data))
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, ':', 'b', '0'+byte(p.Type))
			dst = b64.AppendEncode(dst, p.Data)
			continue
		}
		dst = strconv.AppendInt(dst, int64(1+utf16Len(p.Data)), 10)
		dst = append(dst, ':', '0'+byte(p.Type))
		dst = append(dst, p.Data...)
	}
	return dst
}

// DecodePayloadV3Binary decodes a v3 XHR2 polling body
// (application/octet-stream): per packet a kind byte (0 string, 1 binary),
// the length as one byte per decimal digit, 0xff, then the packet; a binary
// packet's first byte is its type.
func DecodePayloadV3Binary(body []byte) ([]Packet, error) {
	if len(body) == 0 {
		return nil, ErrPayload
	}
	var pkts []Packet
	for len(body) > 0 {
		kind := body[0]
		if kind > 1 {
			return nil, ErrPayload
		}
		n, i := 0, 1
		for ; i < len(body) && body[i] != 0xff; i++ {
			if body[i] > 9 || i > maxDigits {
				return nil, ErrPayload
			}
			n = n*10 + int(body[i])
		}
		if i == 1 || i >= len(body) || n == 0 || n > len(body)-i-1 {
			return nil, ErrPayload
		}
		pkt := body[i+1 : i+1+n]
		body = body[i+1+n:]
		if kind == 0 {
			p, err := decodeText(pkt)
			if err != nil {
				return nil, err
			}
			pkts = append(pkts, p)
			continue
		}
		if pkt[0] > 6 {
			return nil, ErrPayload
		}
		pkts = append(pkts, Packet{Type: PacketType(pkt[0]), Data: pkt[1:], Binary: true})
	}
	return pkts, nil
}

// AppendPayloadV3Binary encodes pkts as a v3 XHR2 binary polling body.
// String packets are counted in bytes, as the v3 parsers read them.
func AppendPayloadV3Binary(dst []byte, pkts []Packet) []byte {
	for _, p := range pkts {
		kind := byte(0)
		if p.Binary {
			kind = 1
		}
		dst = append(dst, kind)
		var digits [20]byte
		for _, d := range strconv.AppendInt(digits[:0], int64(1+len(p.Data)), 10) {
			dst = append(dst, d-'0')
		}
		dst = append(dst, 0xff)
		if p.Binary {
			dst = append(dst, byte(p.Type))
		} else {
			dst = append(dst, '0'+byte(p.Type))
		}
		dst = append(dst, p.Data...)
	}
	return dst
}

// decodeFrame decodes one websocket frame. In v3 a binary frame starts with
// the packet type byte; in v4 it is a message's raw bytes.
func decodeFrame(proto int, binary bool, frame []byte) (Packet, error) {
	if !binary {
		return decodeText(frame)
	}
	if proto == 3 {
		if len(frame) == 0 || frame[0] > 6 {
			return Packet{}, ErrPayload
		}
		return Packet{Type: PacketType(frame[0]), Data: frame[1:], Binary: true}, nil
	}
	return Packet{Type: MessagePacket, Data: frame, Binary: true}, nil
}
