package packet

import (
	"fmt"
	"io"
)

// Type-switching helpers for tests, the load tool and other clients. They
// allocate a struct per packet, so the broker's read loop uses the typed
// decoders instead.

// DecodePacket decodes the body of a packet of type t into a new struct and
// returns a pointer to it: *Connect, *Connack, *Publish, *Ack (PUBACK,
// PUBREC, PUBREL, PUBCOMP), *Subscribe, *Suback, *Unsubscribe, *Unsuback,
// *Disconnect or *Auth. PINGREQ and PINGRESP carry nothing, so their value
// is the Type itself. AUTH does not exist before v5 and is MalformedPacket
// there, like the reserved type 0. The version of CONNECT is read from the
// packet; v is used for all other types. On error the packet is nil.
func DecodePacket(v Version, t Type, flags byte, body []byte) (any, error) {
	pkt, err := decodePacket(v, t, flags, body)
	if err != nil {
		return nil, err
	}
	return pkt, nil
}

func decodePacket(v Version, t Type, flags byte, body []byte) (any, error) {
	switch t {
	case CONNECT:
		c := new(Connect)
		return c, DecodeConnect(flags, body, c)
	case CONNACK:
		c := new(Connack)
		return c, DecodeConnack(v, flags, body, c)
	case PUBLISH:
		p := new(Publish)
		return p, DecodePublish(v, flags, body, p)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := new(Ack)
		return a, DecodeAck(v, t, flags, body, a)
	case SUBSCRIBE:
		s := new(Subscribe)
		return s, DecodeSubscribe(v, flags, body, s)
	case SUBACK:
		s := new(Suback)
		return s, DecodeSuback(v, flags, body, s)
	case UNSUBSCRIBE:
		u := new(Unsubscribe)
		return u, DecodeUnsubscribe(v, flags, body, u)
	case UNSUBACK:
		u := new(Unsuback)
		return u, DecodeUnsuback(v, flags, body, u)
	case PINGREQ, PINGRESP:
		return t, DecodeEmpty(flags, body)
	case DISCONNECT:
		d := new(Disconnect)
		return d, DecodeDisconnect(v, flags, body, d)
	case AUTH:
		if v != V5 { // type 15 is reserved before MQTT 5
			return nil, MalformedPacket
		}
		a := new(Auth)
		return a, DecodeAuth(flags, body, a)
	default:
		return nil, MalformedPacket
	}
}

// AppendPacket encodes any packet DecodePacket returns (pointers to the
// packet structs, or PINGREQ / PINGRESP as a Type). The version of a
// *Connect is its own; v is used for all other types. Types it cannot
// encode are an error.
func AppendPacket(dst []byte, v Version, pkt any) ([]byte, error) {
	switch p := pkt.(type) {
	case *Connect:
		return AppendConnect(dst, p), nil
	case *Connack:
		return AppendConnack(dst, v, p), nil
	case *Publish:
		return AppendPublish(dst, v, p), nil
	case *Ack:
		switch p.Type {
		case PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK:
			return AppendAck(dst, v, p), nil
		}
		return dst, fmt.Errorf("packet: Ack of type %v", p.Type)
	case *Subscribe:
		return AppendSubscribe(dst, v, p), nil
	case *Suback:
		return AppendSuback(dst, v, p), nil
	case *Unsubscribe:
		return AppendUnsubscribe(dst, v, p), nil
	case *Unsuback:
		return AppendUnsuback(dst, v, p), nil
	case *Disconnect:
		return AppendDisconnect(dst, v, p), nil
	case *Auth:
		return AppendAuth(dst, p), nil
	case Type:
		switch p {
		case PINGREQ:
			return AppendPingreq(dst), nil
		case PINGRESP:
			return AppendPingresp(dst), nil
		}
	}
	return dst, fmt.Errorf("packet: cannot encode %T %v", pkt, pkt)
}

// ReadPacket reads one whole packet from r and decodes it with DecodePacket.
// A packet whose total size (fixed header included, as in the Maximum
// Packet Size property) exceeds maxSize is PacketTooLarge and is not read
// further; maxSize <= 0 means no limit. Errors of r are returned as they
// are, except that an EOF inside a packet is io.ErrUnexpectedEOF. The fixed
// header is read a byte at a time: give it a buffered reader.
func ReadPacket(r io.Reader, v Version, maxSize int) (any, error) {
	var hdr [5]byte
	for i := 0; ; i++ {
		if _, err := io.ReadFull(r, hdr[i:i+1]); err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		t, flags, remaining, n, err := DecodeHeader(hdr[:i+1])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		if maxSize > 0 && n+remaining > maxSize {
			return nil, PacketTooLarge
		}
		body := make([]byte, remaining)
		if _, err := io.ReadFull(r, body); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return DecodePacket(v, t, flags, body)
	}
}
