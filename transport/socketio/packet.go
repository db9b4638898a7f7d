package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// PacketType is a Socket.IO packet type (protocol v5, and rev 4 which has
// the same numbering).
type PacketType byte

const (
	Connect PacketType = iota
	Disconnect
	Event
	Ack
	ConnectError
	BinaryEvent
	BinaryAck
)

// Packet is one Socket.IO packet:
// <type>[<attachments>-][<namespace>,][<ack id>][JSON].
type Packet struct {
	Type        PacketType
	Attachments int    // binary messages that follow (BinaryEvent, BinaryAck)
	Namespace   string // "/" when absent; a v3 connect query ("?token=x") is cut off
	ID          int64  // ack id, -1 when absent
	Data        []byte // the JSON payload as received (aliases the input), nil when absent
}

// Parser limits: beyond them a packet is malformed.
const (
	MaxAttachments = 10  // per packet, before any layer's own bound
	maxNamespace   = 256 // bytes
	maxIDDigits    = 15  // below 2^53: JavaScript numbers stay exact
)

// ErrPacket reports a malformed Socket.IO packet.
var ErrPacket = errors.New("socketio: malformed packet")

// reserved event names a client may not emit.
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// ParsePacket parses a Socket.IO packet from the text of an Engine.IO
// message and checks its payload has the shape its type requires.
func ParsePacket(b []byte) (Packet, error) {
	p := Packet{Namespace: "/", ID: -1}
	if len(b) == 0 || b[0] < '0' || b[0] > '6' {
		return p, ErrPacket
	}
	p.Type = PacketType(b[0] - '0')
	b = b[1:]
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		dash := bytes.IndexByte(b, '-')
		if dash <= 0 || dash > 2 {
			return p, ErrPacket
		}
		n, ok := digits(b[:dash])
		if !ok || n > MaxAttachments {
			return p, ErrPacket
		}
		p.Attachments = int(n)
		b = b[dash+1:]
	}
	if len(b) > 0 && b[0] == '/' {
		end := bytes.IndexByte(b, ',')
		if end < 0 {
			end = len(b) // a namespace may end the packet ("40/mqtt" from v3 clients)
		}
		if end > maxNamespace {
			return p, ErrPacket
		}
		nsp := b[:end]
		if q := bytes.IndexByte(nsp, '?'); q >= 0 {
			nsp = nsp[:q]
		}
		if string(nsp) == mqttNamespace {
			p.Namespace = mqttNamespace // no allocation on the hot path
		} else {
			p.Namespace = string(nsp)
		}
		b = b[min(end+1, len(b)):]
	}
	if i := leadingDigits(b); i > 0 {
		if i > maxIDDigits {
			return p, ErrPacket
		}
		p.ID, _ = digits(b[:i])
		b = b[i:]
	}
	if len(b) > 0 {
		p.Data = b
	}
	if !validPayload(p) {
		return p, ErrPacket
	}
	return p, nil
}

func leadingDigits(b []byte) int {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func digits(b []byte) (int64, bool) {
	if len(b) == 0 || leadingDigits(b) != len(b) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// validPayload checks the payload shape of each packet type, as the
// reference parser does.
func validPayload(p Packet) bool {
	if p.Type == BinaryEvent && bytes.Equal(p.Data, mqttArgs) {
		return true // the MQTT.IO event, once per inbound packet: skip the JSON work
	}
	if p.Data != nil && !json.Valid(p.Data) {
		return false
	}
	switch p.Type {
	case Connect:
		return p.Data == nil || p.Data[0] == '{'
	case Disconnect:
		return p.Data == nil
	case ConnectError:
		return p.Data != nil && (p.Data[0] == '{' || p.Data[0] == '"')
	case Event, BinaryEvent:
		_, ok := eventName(p.Data)
		return ok
	case Ack, BinaryAck:
		return p.Data != nil && p.Data[0] == '['
	}
	return false
}

// eventName returns the name of an event payload (a JSON array whose first
// element is a string that is not reserved, or a number); ok is false for
// any other payload.
func eventName(data []byte) (string, bool) {
	if len(data) == 0 || data[0] != '[' {
		return "", false
	}
	var args []json.RawMessage
	if json.Unmarshal(data, &args) != nil || len(args) == 0 {
		return "", false
	}
	var name string
	if json.Unmarshal(args[0], &name) == nil {
		return name, !reserved[name]
	}
	var num float64
	if json.Unmarshal(args[0], &num) == nil {
		return string(args[0]), true
	}
	return "", false
}

// AppendPacket encodes p (attachments and ID included when set).
func AppendPacket(dst []byte, p Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		dst = strconv.AppendInt(dst, int64(p.Attachments), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.ID >= 0 {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}
