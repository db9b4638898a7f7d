package packet

import (
	"encoding/hex"
	"strings"
)

// Byte fixtures for every packet type and version, written out by hand from
// the spec (each with the remaining length counted in a comment where it is
// not obvious), and the struct each one decodes to. They are the ground
// truth the codec is checked against; none is produced by the encoder.

// fixture is one packet on the wire and its decoded form.
type fixture struct {
	name string
	v    Version
	wire string // hex; spaces and newlines are ignored
	want any    // what DecodePacket returns
	// canon is the encoder's output for want when it differs from wire:
	// the encoder writes the shortest form, the decoder accepts every form.
	canon string
}

// unhex decodes a fixture, ignoring white space; it panics on bad hex since
// fixtures are constants.
func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

func bs(s string) []byte { return []byte(s) }

// fixtureNamed returns the fixture called name.
func fixtureNamed(name string) fixture {
	for _, f := range fixtures {
		if f.name == name {
			return f
		}
	}
	panic("no fixture " + name)
}

var fixtures = []fixture{
	// CONNECT
	{
		name: "connect/3.1.1 minimal",
		v:    V311,
		wire: "10 0f 00 04 4d 51 54 54 04 02 00 3c 00 03 69 6f 31",
		want: &Connect{ProtocolName: bs("MQTT"), Version: V311, CleanStart: true, KeepAlive: 60, ClientID: bs("io1")},
	},
	{
		// Remaining 32: name 8, level 1, flags 1, keep alive 2, client id 3,
		// will topic 5, will message 5, user name 3, password 4.
		name: "connect/3.1 MQIsdp with will, user and password",
		v:    V31,
		wire: `10 20 00 06 4d 51 49 73 64 70 03 ee 00 0a
			00 01 63
			00 03 77 2f 74
			00 03 62 79 65
			00 01 75
			00 02 70 77`,
		want: &Connect{
			ProtocolName: bs("MQIsdp"), Version: V31, CleanStart: true, KeepAlive: 10, ClientID: bs("c"),
			WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: bs("w/t"), WillPayload: bs("bye"),
			HasUsername: true, Username: bs("u"), HasPassword: true, Password: bs("pw"),
		},
	},
	{
		name: "connect/3.1.1 empty client id and empty user name",
		v:    V311,
		wire: "10 0e 00 04 4d 51 54 54 04 80 00 00 00 00 00 00",
		want: &Connect{ProtocolName: bs("MQTT"), Version: V311, ClientID: bs(""), HasUsername: true, Username: bs("")},
	},
	{
		// Flags f6: user, password, will retain, will QoS 2, will, clean.
		// Properties 0x28 = 40: 5+8+5+2+2+3+3+7+5. Will properties
		// 0x25 = 37: 2+5+7+6+5+5+7. Remaining 0x78 = 120.
		name: "connect/5 all properties and will properties",
		v:    V5,
		wire: `10 78 00 04 4d 51 54 54 05 f6 00 1e
			28
			11 00 00 00 78
			15 00 05 53 43 52 41 4d
			16 00 02 01 02
			17 00
			19 01
			21 00 14
			22 00 0a
			26 00 01 61 00 01 62
			27 00 00 10 00
			00 03 63 69 64
			25
			01 01
			02 00 00 0e 10
			03 00 04 74 65 78 74
			08 00 03 72 2f 31
			09 00 02 ab cd
			18 00 00 00 05
			26 00 01 6b 00 01 76
			00 06 77 69 6c 6c 2f 74
			00 04 67 6f 6e 65
			00 04 75 73 65 72
			00 04 70 61 73 73`,
		want: &Connect{
			ProtocolName: bs("MQTT"), Version: V5, CleanStart: true, KeepAlive: 30, ClientID: bs("cid"),
			HasUsername: true, Username: bs("user"), HasPassword: true, Password: bs("pass"),
			Properties: Properties{
				Has: HasSessionExpiry | HasRequestProblemInfo | HasRequestResponseInfo |
					HasReceiveMaximum | HasTopicAliasMaximum | HasMaximumPacketSize,
				SessionExpiry: 120, AuthMethod: bs("SCRAM"), AuthData: []byte{1, 2},
				RequestProblemInfo: 0, RequestResponseInfo: 1, ReceiveMaximum: 20,
				TopicAliasMaximum: 10, MaximumPacketSize: 4096,
				UserProperties: []UserProperty{{bs("a"), bs("b")}},
			},
			WillFlag: true, WillQoS: 2, WillRetain: true, WillTopic: bs("will/t"), WillPayload: bs("gone"),
			WillProperties: Properties{
				Has:           HasPayloadFormat | HasMessageExpiry | HasWillDelay,
				PayloadFormat: 1, MessageExpiry: 3600, ContentType: bs("text"), ResponseTopic: bs("r/1"),
				CorrelationData: []byte{0xab, 0xcd}, WillDelay: 5,
				UserProperties: []UserProperty{{bs("k"), bs("v")}},
			},
		},
	},
	{
		// MQTT 5 allows a password without a user name (flags 0x40).
		name: "connect/5 password without user name",
		v:    V5,
		wire: "10 12 00 04 4d 51 54 54 05 40 00 00 00 00 01 78 00 02 70 77",
		want: &Connect{ProtocolName: bs("MQTT"), Version: V5, ClientID: bs("x"), HasPassword: true, Password: bs("pw")},
	},
	{
		// Properties in an order other than the encoder's.
		name: "connect/5 properties out of order",
		v:    V5,
		wire: "10 16 00 04 4d 51 54 54 05 02 00 3c 08 21 00 0a 11 00 00 00 1e 00 01 78",
		want: &Connect{
			ProtocolName: bs("MQTT"), Version: V5, CleanStart: true, KeepAlive: 60, ClientID: bs("x"),
			Properties: Properties{Has: HasReceiveMaximum | HasSessionExpiry, ReceiveMaximum: 10, SessionExpiry: 30},
		},
		canon: "10 16 00 04 4d 51 54 54 05 02 00 3c 08 11 00 00 00 1e 21 00 0a 00 01 78",
	},

	// CONNACK
	{name: "connack/3.1.1 session present", v: V311, wire: "20 02 01 00", want: &Connack{SessionPresent: true}},
	{name: "connack/3.1.1 not authorized", v: V311, wire: "20 02 00 05", want: &Connack{ReasonCode: 5}},
	{name: "connack/3.1 accepted", v: V31, wire: "20 02 00 00", want: &Connack{}},
	{name: "connack/3.1 bad protocol", v: V31, wire: "20 02 00 01", want: &Connack{ReasonCode: 1}},
	{name: "connack/5 refused", v: V5, wire: "20 03 00 87 00", want: &Connack{ReasonCode: NotAuthorized}},
	{name: "connack/5 session present", v: V5, wire: "20 03 01 00 00", want: &Connack{SessionPresent: true}},
	{
		// Properties 0x41 = 65: 5+6+3+4+4+5+5+5+3+3+2+2+7+5+2+2+2.
		name: "connack/5 all properties",
		v:    V5,
		wire: `20 44 00 00 41
			11 00 00 00 3c
			12 00 03 61 62 63
			13 00 3c
			15 00 01 6d
			16 00 01 ff
			1a 00 02 72 69
			1c 00 02 73 72
			1f 00 02 6f 6b
			21 00 64
			22 00 05
			24 01
			25 00
			26 00 01 61 00 01 62
			27 00 01 00 00
			28 01
			29 00
			2a 01`,
		want: &Connack{Properties: Properties{
			Has: HasSessionExpiry | HasServerKeepAlive | HasReceiveMaximum | HasTopicAliasMaximum |
				HasMaximumQoS | HasRetainAvailable | HasMaximumPacketSize | HasWildcardSubAvailable |
				HasSubIDAvailable | HasSharedSubAvailable,
			SessionExpiry: 60, AssignedClientID: bs("abc"), ServerKeepAlive: 60, AuthMethod: bs("m"),
			AuthData: []byte{0xff}, ResponseInfo: bs("ri"), ServerReference: bs("sr"), ReasonString: bs("ok"),
			ReceiveMaximum: 100, TopicAliasMaximum: 5, MaximumQoS: 1, RetainAvailable: 0,
			UserProperties: []UserProperty{{bs("a"), bs("b")}}, MaximumPacketSize: 65536,
			WildcardSubAvail: 1, SubIDAvailable: 0, SharedSubAvailable: 1,
		}},
	},

	// PUBLISH
	{
		name: "publish/3.1.1 qos 0",
		v:    V311,
		wire: "30 0a 00 03 61 2f 62 68 65 6c 6c 6f",
		want: &Publish{Topic: bs("a/b"), Payload: bs("hello")},
	},
	{
		name: "publish/3.1 qos 2 retain",
		v:    V31,
		wire: "35 07 00 01 74 12 34 6f 6b",
		want: &Publish{QoS: 2, Retain: true, Topic: bs("t"), PacketID: 0x1234, Payload: bs("ok")},
	},
	{
		name: "publish/3.1.1 qos 1 dup empty payload",
		v:    V311,
		wire: "3a 05 00 01 74 00 07",
		want: &Publish{Dup: true, QoS: 1, Topic: bs("t"), PacketID: 7, Payload: bs("")},
	},
	{
		// Remaining 203 = 0xcb 0x01: topic 3, payload 200.
		name: "publish/3.1.1 two-byte remaining length",
		v:    V311,
		wire: "30 cb 01 00 01 74" + strings.Repeat("61", 200),
		want: &Publish{Topic: bs("t"), Payload: bs(strings.Repeat("a", 200))},
	},
	{
		name: "publish/5 qos 0 no properties",
		v:    V5,
		wire: "30 06 00 01 74 00 68 69",
		want: &Publish{Topic: bs("t"), Payload: bs("hi")},
	},
	{
		// An empty topic with a topic alias [MQTT-3.3.2.3.4].
		name: "publish/5 empty topic with alias",
		v:    V5,
		wire: "32 08 00 00 00 01 03 23 00 05",
		want: &Publish{QoS: 1, Topic: bs(""), PacketID: 1, Payload: bs(""),
			Properties: Properties{Has: HasTopicAlias, TopicAlias: 5}},
	},
	{
		// Flags 0b1011: DUP, QoS 1, retain. Properties 0x36 = 54:
		// 2+5+11+8+6+2+3+3+7+7. Remaining 0x40 = 64: topic 5, id 2,
		// property length 1, properties 54, payload 2.
		name: "publish/5 every publish property",
		v:    V5,
		wire: `3b 40 00 03 61 2f 62 00 0a
			36
			01 01
			02 00 00 00 3c
			03 00 08 61 70 70 2f 6a 73 6f 6e
			08 00 05 72 65 70 6c 79
			09 00 03 01 02 03
			0b 05
			0b 80 01
			23 00 07
			26 00 01 78 00 01 79
			26 00 01 78 00 01 7a
			68 69`,
		want: &Publish{
			Dup: true, QoS: 1, Retain: true, Topic: bs("a/b"), PacketID: 10, Payload: bs("hi"),
			Properties: Properties{
				Has:           HasPayloadFormat | HasMessageExpiry | HasTopicAlias,
				PayloadFormat: 1, MessageExpiry: 60, ContentType: bs("app/json"), ResponseTopic: bs("reply"),
				CorrelationData: []byte{1, 2, 3}, SubscriptionIDs: []uint32{5, 128}, TopicAlias: 7,
				UserProperties: []UserProperty{{bs("x"), bs("y")}, {bs("x"), bs("z")}},
			},
		},
	},

	// PUBACK, PUBREC, PUBREL, PUBCOMP
	{name: "puback/3.1.1", v: V311, wire: "40 02 00 01", want: &Ack{Type: PUBACK, PacketID: 1}},
	{name: "pubrec/3.1.1", v: V311, wire: "50 02 00 02", want: &Ack{Type: PUBREC, PacketID: 2}},
	{name: "pubrel/3.1.1", v: V311, wire: "62 02 00 03", want: &Ack{Type: PUBREL, PacketID: 3}},
	{name: "pubcomp/3.1.1", v: V311, wire: "70 02 00 04", want: &Ack{Type: PUBCOMP, PacketID: 4}},
	{name: "puback/3.1", v: V31, wire: "40 02 ff ff", want: &Ack{Type: PUBACK, PacketID: 0xffff}},
	{name: "pubrec/3.1", v: V31, wire: "50 02 00 02", want: &Ack{Type: PUBREC, PacketID: 2}},
	{name: "pubrel/3.1", v: V31, wire: "62 02 01 00", want: &Ack{Type: PUBREL, PacketID: 256}},
	{name: "pubcomp/3.1", v: V31, wire: "70 02 00 04", want: &Ack{Type: PUBCOMP, PacketID: 4}},
	{name: "puback/5 success short form", v: V5, wire: "40 02 00 01", want: &Ack{Type: PUBACK, PacketID: 1}},
	{name: "puback/5 reason only", v: V5, wire: "40 03 00 01 10", want: &Ack{Type: PUBACK, PacketID: 1, ReasonCode: NoMatchingSubscribers}},
	{
		name:  "puback/5 success with empty properties",
		v:     V5,
		wire:  "40 04 00 01 00 00",
		want:  &Ack{Type: PUBACK, PacketID: 1},
		canon: "40 02 00 01",
	},
	{
		name:  "puback/5 reason with empty properties",
		v:     V5,
		wire:  "40 04 00 01 97 00",
		want:  &Ack{Type: PUBACK, PacketID: 1, ReasonCode: QuotaExceeded},
		canon: "40 03 00 01 97",
	},
	{
		// Properties 0x0d = 13: reason string 6, user property 7.
		name: "pubrec/5 reason and properties",
		v:    V5,
		wire: "50 11 00 02 80 0d 1f 00 03 65 72 72 26 00 01 6b 00 01 76",
		want: &Ack{Type: PUBREC, PacketID: 2, ReasonCode: UnspecifiedError, Properties: Properties{
			ReasonString: bs("err"), UserProperties: []UserProperty{{bs("k"), bs("v")}}}},
	},
	{name: "pubrel/5 not found", v: V5, wire: "62 03 00 03 92", want: &Ack{Type: PUBREL, PacketID: 3, ReasonCode: PacketIdentifierNotFound}},
	{name: "pubcomp/5", v: V5, wire: "70 02 00 04", want: &Ack{Type: PUBCOMP, PacketID: 4}},

	// SUBSCRIBE
	{
		name: "subscribe/3.1.1 two filters",
		v:    V311,
		wire: "82 0e 00 0a 00 03 61 2f 62 01 00 03 63 2f 23 02",
		want: &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: bs("a/b"), QoS: 1}, {Filter: bs("c/#"), QoS: 2}}},
	},
	{
		name: "subscribe/3.1",
		v:    V31,
		wire: "82 06 00 01 00 01 74 00",
		want: &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: bs("t")}}},
	},
	{
		// Properties 10: subscription id 200 (c8 01), user property 7.
		// Options 2d: retain handling 2, retain as published, no local,
		// QoS 1; 10: retain handling 1, QoS 0. Remaining 0x17 = 23.
		name: "subscribe/5 options and properties",
		v:    V5,
		wire: "82 17 00 0b 0a 0b c8 01 26 00 01 6b 00 01 76 00 03 78 2f 2b 2d 00 01 79 10",
		want: &Subscribe{
			PacketID:   11,
			Properties: Properties{SubscriptionIDs: []uint32{200}, UserProperties: []UserProperty{{bs("k"), bs("v")}}},
			Subscriptions: []Subscription{
				{Filter: bs("x/+"), QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: bs("y"), RetainHandling: 1},
			},
		},
	},

	// SUBACK
	{name: "suback/3.1.1", v: V311, wire: "90 05 00 0a 01 02 80", want: &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, GrantedQoS2, UnspecifiedError}}},
	{name: "suback/3.1", v: V31, wire: "90 03 00 01 00", want: &Suback{PacketID: 1, ReasonCodes: []ReasonCode{GrantedQoS0}}},
	{name: "suback/5 no properties", v: V5, wire: "90 04 00 0c 00 02", want: &Suback{PacketID: 12, ReasonCodes: []ReasonCode{GrantedQoS2}}},
	{
		name: "suback/5 reason string",
		v:    V5,
		wire: "90 0a 00 0b 04 1f 00 01 78 01 a2 97",
		want: &Suback{PacketID: 11, Properties: Properties{ReasonString: bs("x")},
			ReasonCodes: []ReasonCode{GrantedQoS1, WildcardSubscriptionsNotSupported, QuotaExceeded}},
	},

	// UNSUBSCRIBE
	{
		name: "unsubscribe/3.1.1",
		v:    V311,
		wire: "a2 0a 00 0c 00 03 61 2f 62 00 01 63",
		want: &Unsubscribe{PacketID: 12, Filters: [][]byte{bs("a/b"), bs("c")}},
	},
	{name: "unsubscribe/3.1", v: V31, wire: "a2 05 00 01 00 01 74", want: &Unsubscribe{PacketID: 1, Filters: [][]byte{bs("t")}}},
	{
		name: "unsubscribe/5 user property",
		v:    V5,
		wire: "a2 0e 00 0d 07 26 00 01 6b 00 01 76 00 02 61 2f",
		want: &Unsubscribe{PacketID: 13, Properties: Properties{UserProperties: []UserProperty{{bs("k"), bs("v")}}},
			Filters: [][]byte{bs("a/")}},
	},

	// UNSUBACK
	{name: "unsuback/3.1.1", v: V311, wire: "b0 02 00 0c", want: &Unsuback{PacketID: 12}},
	{name: "unsuback/3.1", v: V31, wire: "b0 02 00 01", want: &Unsuback{PacketID: 1}},
	{name: "unsuback/5", v: V5, wire: "b0 05 00 0d 00 00 11", want: &Unsuback{PacketID: 13, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}},
	{
		name: "unsuback/5 reason string",
		v:    V5,
		wire: "b0 08 00 0e 04 1f 00 01 72 87",
		want: &Unsuback{PacketID: 14, Properties: Properties{ReasonString: bs("r")}, ReasonCodes: []ReasonCode{NotAuthorized}},
	},

	// PINGREQ, PINGRESP
	{name: "pingreq/3.1", v: V31, wire: "c0 00", want: PINGREQ},
	{name: "pingresp/3.1", v: V31, wire: "d0 00", want: PINGRESP},
	{name: "pingreq/3.1.1", v: V311, wire: "c0 00", want: PINGREQ},
	{name: "pingresp/3.1.1", v: V311, wire: "d0 00", want: PINGRESP},
	{name: "pingreq/5", v: V5, wire: "c0 00", want: PINGREQ},
	{name: "pingresp/5", v: V5, wire: "d0 00", want: PINGRESP},

	// DISCONNECT
	{name: "disconnect/3.1.1", v: V311, wire: "e0 00", want: &Disconnect{}},
	{name: "disconnect/3.1", v: V31, wire: "e0 00", want: &Disconnect{}},
	{name: "disconnect/5 normal", v: V5, wire: "e0 00", want: &Disconnect{}},
	{name: "disconnect/5 with will", v: V5, wire: "e0 01 04", want: &Disconnect{ReasonCode: DisconnectWithWill}},
	{name: "disconnect/5 normal long form", v: V5, wire: "e0 02 00 00", want: &Disconnect{}, canon: "e0 00"},
	{
		// Properties 0x15 = 21: session expiry 5, server reference 4,
		// reason string 5, user property 7.
		name: "disconnect/5 all properties",
		v:    V5,
		wire: "e0 17 9c 15 11 00 00 00 00 1c 00 01 73 1f 00 02 62 79 26 00 01 6b 00 01 76",
		want: &Disconnect{ReasonCode: UseAnotherServer, Properties: Properties{
			Has: HasSessionExpiry, SessionExpiry: 0, ServerReference: bs("s"), ReasonString: bs("by"),
			UserProperties: []UserProperty{{bs("k"), bs("v")}},
		}},
	},

	// AUTH
	{name: "auth/5 empty", v: V5, wire: "f0 00", want: &Auth{}},
	{name: "auth/5 reason only", v: V5, wire: "f0 01 19", want: &Auth{ReasonCode: ReAuthenticate}},
	{
		// Properties 0x19 = 25: method 8, data 6, reason string 4, user 7.
		name: "auth/5 continue with properties",
		v:    V5,
		wire: `f0 1b 18 19
			15 00 05 53 43 52 41 4d
			16 00 03 01 02 03
			1f 00 01 72
			26 00 01 6b 00 01 76`,
		want: &Auth{ReasonCode: ContinueAuthentication, Properties: Properties{
			AuthMethod: bs("SCRAM"), AuthData: []byte{1, 2, 3}, ReasonString: bs("r"),
			UserProperties: []UserProperty{{bs("k"), bs("v")}},
		}},
	},
}
