package packet

import "testing"

// errorCase is a packet that must be rejected with a given reason code.
// first is the first byte of the fixed header (type and flags); the test
// computes the remaining length from body, so the rows only spell out what
// they are about. A row with first == 0 holds a whole packet in body and
// tests DecodeHeader.
type errorCase struct {
	name  string
	v     Version
	first byte
	body  string
	want  ReasonCode
}

// connectV5 is the start of a v5 CONNECT body up to the property length:
// "MQTT", level 5, clean start, keep alive 60.
const connectV5 = "00 04 4d 51 54 54 05 02 00 3c "

var errorCases = []errorCase{
	// Fixed header.
	{"header/reserved type 0", V311, 0, "00 00", MalformedPacket},
	{"header/remaining length over four bytes", V311, 0, "30 80 80 80 80 01", MalformedPacket},
	{"header/remaining length not minimal", V5, 0, "30 80 00", MalformedPacket},
	{"header/AUTH before v5", V311, 0xf0, "", MalformedPacket},

	// CONNECT.
	{"connect/flags nibble [MQTT-2.1.3-1]", V311, 0x11, "00 04 4d 51 54 54 04 02 00 3c 00 01 63", MalformedPacket},
	{"connect/unknown protocol name", V311, 0x10, "00 04 4d 51 54 58 04 02 00 3c 00 01 63", UnsupportedProtocolVersion},
	{"connect/MQTT level 3", V311, 0x10, "00 04 4d 51 54 54 03 02 00 3c 00 01 63", UnsupportedProtocolVersion},
	{"connect/MQTT level 6", V311, 0x10, "00 04 4d 51 54 54 06 02 00 3c 00 01 63", UnsupportedProtocolVersion},
	{"connect/MQIsdp level 4", V311, 0x10, "00 06 4d 51 49 73 64 70 04 02 00 3c 00 01 63", UnsupportedProtocolVersion},
	{"connect/reserved flag [MQTT-3.1.2-3]", V311, 0x10, "00 04 4d 51 54 54 04 03 00 3c 00 01 63", MalformedPacket},
	{"connect/will QoS without will [MQTT-3.1.2-13]", V311, 0x10, "00 04 4d 51 54 54 04 0a 00 3c 00 01 63", MalformedPacket},
	{"connect/will retain without will [MQTT-3.1.2-15]", V311, 0x10, "00 04 4d 51 54 54 04 22 00 3c 00 01 63", MalformedPacket},
	{"connect/will QoS 3 [MQTT-3.1.2-14]", V311, 0x10, "00 04 4d 51 54 54 04 1e 00 3c 00 01 63 00 01 74 00 00", MalformedPacket},
	{"connect/will QoS 3 on v5", V5, 0x10, connectV5[:21] + "1e 00 3c 00 00 01 63 00 00 01 74 00 00", MalformedPacket},
	{"connect/password without user name 3.1.1 [MQTT-3.1.2-22]", V311, 0x10, "00 04 4d 51 54 54 04 42 00 3c 00 01 63 00 01 70", MalformedPacket},
	{"connect/password without user name 3.1", V31, 0x10, "00 06 4d 51 49 73 64 70 03 42 00 3c 00 01 63 00 01 70", MalformedPacket},
	{"connect/truncated name", V311, 0x10, "00 04 4d 51", MalformedPacket},
	{"connect/truncated keep alive", V311, 0x10, "00 04 4d 51 54 54 04 02 00", MalformedPacket},
	{"connect/missing client id", V311, 0x10, "00 04 4d 51 54 54 04 02 00 3c", MalformedPacket},
	{"connect/client id longer than body", V311, 0x10, "00 04 4d 51 54 54 04 02 00 3c 00 05 61 62", MalformedPacket},
	{"connect/trailing bytes", V311, 0x10, "00 04 4d 51 54 54 04 02 00 3c 00 01 63 00", MalformedPacket},
	{"connect/missing will payload", V311, 0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 63 00 01 74", MalformedPacket},
	{"connect/missing password", V311, 0x10, "00 04 4d 51 54 54 04 c2 00 3c 00 01 63 00 01 75", MalformedPacket},
	{"connect/client id invalid UTF-8 [MQTT-1.5.4-1]", V311, 0x10, "00 04 4d 51 54 54 04 02 00 3c 00 01 ff", MalformedPacket},
	{"connect/client id surrogate [MQTT-1.5.4-1]", V311, 0x10, "00 04 4d 51 54 54 04 02 00 3c 00 03 ed a0 80", MalformedPacket},
	{"connect/client id U+0000 [MQTT-1.5.4-2]", V311, 0x10, "00 04 4d 51 54 54 04 02 00 3c 00 02 61 00", MalformedPacket},
	{"connect/user name invalid UTF-8", V311, 0x10, "00 04 4d 51 54 54 04 82 00 3c 00 01 63 00 01 c0", MalformedPacket},
	{"connect/will topic invalid UTF-8", V311, 0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 63 00 01 c0 00 00", MalformedPacket},
	{"connect/will topic wildcard [MQTT-4.7.1-1]", V311, 0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 63 00 03 61 2f 23 00 00", TopicNameInvalid},
	{"connect/will topic empty [MQTT-4.7.3-1]", V311, 0x10, "00 04 4d 51 54 54 04 06 00 3c 00 01 63 00 00 00 00", TopicNameInvalid},
	{"connect/v5 missing property length", V5, 0x10, connectV5, MalformedPacket},
	{"connect/v5 property length past body", V5, 0x10, connectV5 + "0a 11 00 00 00 01", MalformedPacket},
	{"connect/v5 property length not minimal", V5, 0x10, connectV5 + "80 00 00 01 63", MalformedPacket},
	{"connect/v5 truncated property value", V5, 0x10, connectV5 + "03 11 00 00 00 01 63", MalformedPacket},
	{"connect/v5 property id 0", V5, 0x10, connectV5 + "02 00 00 00 01 63", MalformedPacket},
	{"connect/v5 property id 0x7f", V5, 0x10, connectV5 + "02 7f 00 00 01 63", MalformedPacket},
	{"connect/v5 topic alias not allowed", V5, 0x10, connectV5 + "03 23 00 01 00 01 63", MalformedPacket},
	{"connect/v5 will delay outside will", V5, 0x10, connectV5 + "05 18 00 00 00 01 00 01 63", MalformedPacket},
	{"connect/v5 duplicate session expiry", V5, 0x10, connectV5 + "0a 11 00 00 00 01 11 00 00 00 02 00 01 63", MalformedPacket},
	{"connect/v5 duplicate auth method", V5, 0x10, connectV5 + "08 15 00 01 61 15 00 01 62 00 01 63", MalformedPacket},
	{"connect/v5 receive maximum 0", V5, 0x10, connectV5 + "03 21 00 00 00 01 63", ProtocolError},
	{"connect/v5 maximum packet size 0", V5, 0x10, connectV5 + "05 27 00 00 00 00 00 01 63", ProtocolError},
	{"connect/v5 request problem information 2", V5, 0x10, connectV5 + "02 17 02 00 01 63", ProtocolError},
	{"connect/v5 request response information 2", V5, 0x10, connectV5 + "02 19 02 00 01 63", ProtocolError},
	{"connect/v5 user property key invalid UTF-8", V5, 0x10, connectV5 + "07 26 00 01 ff 00 01 76 00 01 63", MalformedPacket},
	{"connect/v5 user property truncated", V5, 0x10, connectV5 + "04 26 00 01 6b 00 01 63", MalformedPacket},
	{"connect/v5 session expiry in will", V5, 0x10, connectV5[:21] + "06 00 3c 00 00 01 63 05 11 00 00 00 01 00 01 74 00 00", MalformedPacket},
	{"connect/v5 will payload format 2", V5, 0x10, connectV5[:21] + "06 00 3c 00 00 01 63 02 01 02 00 01 74 00 00", ProtocolError},
	{"connect/v5 duplicate will delay", V5, 0x10, connectV5[:21] + "06 00 3c 00 00 01 63 0a 18 00 00 00 01 18 00 00 00 01 00 01 74 00 00", MalformedPacket},

	// CONNACK.
	{"connack/flags nibble", V311, 0x21, "00 00", MalformedPacket},
	{"connack/reserved acknowledge flags [MQTT-3.2.2-1]", V311, 0x20, "02 00", MalformedPacket},
	{"connack/v3 return code 6", V311, 0x20, "00 06", ProtocolError},
	{"connack/v3 truncated", V311, 0x20, "00", MalformedPacket},
	{"connack/v3 trailing bytes", V311, 0x20, "00 00 00", MalformedPacket},
	{"connack/v5 missing properties", V5, 0x20, "00 00", MalformedPacket},
	{"connack/v5 reason not for CONNACK", V5, 0x20, "00 01 00", ProtocolError},
	{"connack/v5 topic alias not allowed", V5, 0x20, "00 00 03 23 00 01", MalformedPacket},
	{"connack/v5 receive maximum 0", V5, 0x20, "00 00 03 21 00 00", ProtocolError},
	{"connack/v5 maximum QoS 2", V5, 0x20, "00 00 02 24 02", ProtocolError},
	{"connack/v5 trailing bytes", V5, 0x20, "00 00 00 00", MalformedPacket},

	// PUBLISH.
	{"publish/QoS 3 [MQTT-3.3.1-4]", V311, 0x36, "00 01 74 00 01", MalformedPacket},
	{"publish/v5 QoS 3", V5, 0x37, "00 01 74 00 01 00", MalformedPacket},
	{"publish/DUP at QoS 0 [MQTT-3.3.1-2]", V311, 0x38, "00 01 74", MalformedPacket},
	{"publish/wildcard + [MQTT-3.3.2-2]", V311, 0x30, "00 03 61 2f 2b", TopicNameInvalid},
	{"publish/wildcard #", V311, 0x30, "00 01 23 68 69", TopicNameInvalid},
	{"publish/v5 wildcard", V5, 0x30, "00 03 2b 2f 61 00", TopicNameInvalid},
	{"publish/v3 empty topic [MQTT-4.7.3-1]", V311, 0x30, "00 00 61", TopicNameInvalid},
	{"publish/packet id 0 at QoS 1 [MQTT-2.2.1-3]", V311, 0x32, "00 01 74 00 00", ProtocolError},
	{"publish/packet id 0 at QoS 2", V5, 0x34, "00 01 74 00 00 00", ProtocolError},
	{"publish/empty body", V311, 0x30, "", MalformedPacket},
	{"publish/topic longer than body", V311, 0x30, "00 05 61", MalformedPacket},
	{"publish/topic invalid UTF-8 [MQTT-1.5.4-1]", V311, 0x30, "00 01 ff", MalformedPacket},
	{"publish/topic U+0000 [MQTT-1.5.4-2]", V311, 0x30, "00 01 00", MalformedPacket},
	{"publish/truncated packet id", V311, 0x32, "00 01 74 00", MalformedPacket},
	{"publish/v5 missing property length", V5, 0x30, "00 01 74", MalformedPacket},
	{"publish/v5 property length past body", V5, 0x30, "00 01 74 05 01 01", MalformedPacket},
	{"publish/v5 property length not minimal", V5, 0x30, "00 01 74 80 00", MalformedPacket},
	{"publish/v5 session expiry not allowed", V5, 0x30, "00 01 74 05 11 00 00 00 01", MalformedPacket},
	{"publish/v5 will delay not allowed", V5, 0x30, "00 01 74 05 18 00 00 00 01", MalformedPacket},
	{"publish/v5 duplicate topic alias", V5, 0x30, "00 01 74 06 23 00 01 23 00 02", MalformedPacket},
	{"publish/v5 duplicate payload format", V5, 0x30, "00 01 74 04 01 00 01 00", MalformedPacket},
	{"publish/v5 duplicate content type", V5, 0x30, "00 01 74 06 03 00 00 03 00 00", MalformedPacket},
	{"publish/v5 duplicate correlation data", V5, 0x30, "00 01 74 06 09 00 00 09 00 00", MalformedPacket},
	{"publish/v5 payload format 2", V5, 0x30, "00 01 74 02 01 02", ProtocolError},
	{"publish/v5 subscription id 0", V5, 0x30, "00 01 74 02 0b 00", ProtocolError},
	{"publish/v5 subscription id not minimal", V5, 0x30, "00 01 74 03 0b 81 00", MalformedPacket},
	{"publish/v5 subscription id five bytes", V5, 0x30, "00 01 74 06 0b 80 80 80 80 01", MalformedPacket},
	{"publish/v5 response topic invalid UTF-8", V5, 0x30, "00 01 74 04 08 00 01 80", MalformedPacket},
	{"publish/v5 user property value U+0000", V5, 0x30, "00 01 74 07 26 00 01 6b 00 01 00", MalformedPacket},

	// PUBACK, PUBREC, PUBREL, PUBCOMP.
	{"puback/flags [MQTT-2.1.3-1]", V311, 0x41, "00 01", MalformedPacket},
	{"pubrec/flags", V5, 0x52, "00 01", MalformedPacket},
	{"pubrel/flags 0 [MQTT-3.6.1-1]", V311, 0x60, "00 01", MalformedPacket},
	{"pubrel/v5 flags 0", V5, 0x60, "00 01", MalformedPacket},
	{"pubcomp/flags", V311, 0x78, "00 01", MalformedPacket},
	{"puback/truncated", V311, 0x40, "00", MalformedPacket},
	{"puback/v3 trailing bytes", V311, 0x40, "00 01 00", MalformedPacket},
	{"puback/v5 reason not for PUBACK", V5, 0x40, "00 01 05", ProtocolError},
	{"pubrel/v5 reason not for PUBREL", V5, 0x62, "00 01 10", ProtocolError},
	{"pubcomp/v5 reason not for PUBCOMP", V5, 0x70, "00 01 80", ProtocolError},
	{"puback/v5 topic alias not allowed", V5, 0x40, "00 01 00 03 23 00 01", MalformedPacket},
	{"puback/v5 duplicate reason string", V5, 0x40, "00 01 00 08 1f 00 01 61 1f 00 01 62", MalformedPacket},
	{"puback/v5 property length past body", V5, 0x40, "00 01 00 05 1f 00", MalformedPacket},
	{"puback/v5 trailing bytes", V5, 0x40, "00 01 00 00 00", MalformedPacket},

	// SUBSCRIBE.
	{"subscribe/flags 0 [MQTT-3.8.1-1]", V311, 0x80, "00 01 00 01 74 00", MalformedPacket},
	{"subscribe/v5 flags 0", V5, 0x80, "00 01 00 00 01 74 00", MalformedPacket},
	{"subscribe/packet id 0 [MQTT-2.2.1-3]", V311, 0x82, "00 00 00 01 74 00", ProtocolError},
	{"subscribe/no filters [MQTT-3.8.3-3]", V311, 0x82, "00 01", ProtocolError},
	{"subscribe/v5 no filters", V5, 0x82, "00 01 00", ProtocolError},
	{"subscribe/truncated packet id", V311, 0x82, "00", MalformedPacket},
	{"subscribe/missing options", V311, 0x82, "00 01 00 01 74", MalformedPacket},
	{"subscribe/filter longer than body", V311, 0x82, "00 01 00 04 74 00", MalformedPacket},
	{"subscribe/filter invalid UTF-8", V311, 0x82, "00 01 00 01 ff 00", MalformedPacket},
	{"subscribe/v3 options upper bits [MQTT-3-8.3-4]", V311, 0x82, "00 01 00 01 74 04", MalformedPacket},
	{"subscribe/v3 QoS 3", V311, 0x82, "00 01 00 01 74 03", MalformedPacket},
	{"subscribe/3.1 options upper bits", V31, 0x82, "00 01 00 01 74 80", MalformedPacket},
	{"subscribe/v5 reserved bits [MQTT-3.8.3-5]", V5, 0x82, "00 01 00 00 01 74 40", MalformedPacket},
	{"subscribe/v5 retain handling 3", V5, 0x82, "00 01 00 00 01 74 30", MalformedPacket},
	{"subscribe/v5 QoS 3", V5, 0x82, "00 01 00 00 01 74 03", ProtocolError},
	{"subscribe/v5 subscription id 0", V5, 0x82, "00 01 02 0b 00 00 01 74 00", ProtocolError},
	{"subscribe/v5 two subscription ids", V5, 0x82, "00 01 04 0b 01 0b 02 00 01 74 00", MalformedPacket},
	{"subscribe/v5 reason string not allowed", V5, 0x82, "00 01 04 1f 00 01 61 00 01 74 00", MalformedPacket},

	// SUBACK.
	{"suback/flags", V311, 0x91, "00 01 00", MalformedPacket},
	{"suback/truncated", V311, 0x90, "00", MalformedPacket},
	{"suback/v3 return code 3", V311, 0x90, "00 01 03", ProtocolError},
	{"suback/v3 no return codes", V311, 0x90, "00 01", ProtocolError},
	{"suback/v5 reason not for SUBACK", V5, 0x90, "00 01 00 10", ProtocolError},
	{"suback/v5 missing properties", V5, 0x90, "00 01", MalformedPacket},
	{"suback/v5 subscription id not allowed", V5, 0x90, "00 01 02 0b 01 00", MalformedPacket},

	// UNSUBSCRIBE.
	{"unsubscribe/flags 0 [MQTT-3.10.1-1]", V311, 0xa0, "00 01 00 01 74", MalformedPacket},
	{"unsubscribe/packet id 0 [MQTT-2.2.1-3]", V311, 0xa2, "00 00 00 01 74", ProtocolError},
	{"unsubscribe/no filters [MQTT-3.10.3-2]", V311, 0xa2, "00 01", ProtocolError},
	{"unsubscribe/v5 no filters", V5, 0xa2, "00 01 00", ProtocolError},
	{"unsubscribe/filter invalid UTF-8", V311, 0xa2, "00 01 00 01 ff", MalformedPacket},
	{"unsubscribe/filter longer than body", V311, 0xa2, "00 01 00 03 61", MalformedPacket},
	{"unsubscribe/v5 reason string not allowed", V5, 0xa2, "00 01 04 1f 00 01 61 00 01 74", MalformedPacket},

	// UNSUBACK.
	{"unsuback/flags", V311, 0xb2, "00 01", MalformedPacket},
	{"unsuback/v3 trailing bytes", V311, 0xb0, "00 01 00", MalformedPacket},
	{"unsuback/v5 reason not for UNSUBACK", V5, 0xb0, "00 01 00 01", ProtocolError},
	{"unsuback/v5 no reason codes", V5, 0xb0, "00 01 00", ProtocolError},

	// PINGREQ, PINGRESP.
	{"pingreq/flags", V311, 0xc1, "", MalformedPacket},
	{"pingreq/body", V5, 0xc0, "00", MalformedPacket},
	{"pingresp/flags", V5, 0xd2, "", MalformedPacket},
	{"pingresp/body", V311, 0xd0, "00", MalformedPacket},

	// DISCONNECT.
	{"disconnect/flags", V311, 0xe1, "", MalformedPacket},
	{"disconnect/v3 body", V311, 0xe0, "00", MalformedPacket},
	{"disconnect/v5 reason not for DISCONNECT", V5, 0xe0, "05", ProtocolError},
	{"disconnect/v5 topic alias not allowed", V5, 0xe0, "00 03 23 00 01", MalformedPacket},
	{"disconnect/v5 duplicate session expiry", V5, 0xe0, "00 0a 11 00 00 00 01 11 00 00 00 01", MalformedPacket},
	{"disconnect/v5 trailing bytes", V5, 0xe0, "00 00 00", MalformedPacket},

	// AUTH.
	{"auth/flags [MQTT-3.15.1-1]", V5, 0xf1, "", MalformedPacket},
	{"auth/reason not for AUTH", V5, 0xf0, "87", ProtocolError},
	{"auth/session expiry not allowed", V5, 0xf0, "18 05 11 00 00 00 01", MalformedPacket},
	{"auth/duplicate auth data", V5, 0xf0, "18 06 16 00 00 16 00 00", MalformedPacket},
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range errorCases {
		body := unhex(tc.body)
		var err error
		if tc.first == 0 {
			_, _, _, _, err = DecodeHeader(body)
		} else {
			// Through the whole path: header, then the packet's decoder.
			pkt := appendHeader(nil, Type(tc.first>>4), tc.first&0x0f, len(body))
			pkt = append(pkt, body...)
			typ, flags, remaining, n, herr := DecodeHeader(pkt)
			if herr != nil || n+remaining != len(pkt) {
				t.Fatalf("%s: bad row: header %v", tc.name, herr)
			}
			_, err = DecodePacket(tc.v, typ, flags, pkt[n:])
		}
		if err != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestDecodeAckTypes checks that DecodeAck refuses types it does not decode.
func TestDecodeAckTypes(t *testing.T) {
	var a Ack
	for _, tc := range []struct {
		v   Version
		typ Type
	}{{V311, CONNECT}, {V5, SUBACK}, {V5, UNSUBACK}, {V311, 0}} {
		if err := DecodeAck(tc.v, tc.typ, 0, []byte{0, 1}, &a); err != MalformedPacket {
			t.Errorf("DecodeAck(v%d, %v) = %v", tc.v, tc.typ, err)
		}
	}
	if err := DecodeAck(V311, UNSUBACK, 0, []byte{0, 1}, &a); err != nil || a.PacketID != 1 {
		t.Errorf("DecodeAck(v3 UNSUBACK) = %v, %+v", err, a)
	}
}
