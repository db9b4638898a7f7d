package packet

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// decodeWire decodes one whole packet from b with DecodeHeader and
// DecodePacket, failing the test if the header does not span exactly b.
func decodeWire(t *testing.T, v Version, b []byte) (any, error) {
	t.Helper()
	typ, flags, remaining, n, err := DecodeHeader(b)
	if err != nil || n == 0 {
		t.Fatalf("DecodeHeader(% x) = n %d, err %v", b, n, err)
	}
	if n+remaining != len(b) {
		t.Fatalf("DecodeHeader: header %d + remaining %d != %d bytes", n, remaining, len(b))
	}
	return DecodePacket(v, typ, flags, b[n:])
}

func TestFixtures(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			wire := unhex(f.wire)
			got, err := decodeWire(t, f.v, wire)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, f.want) {
				t.Fatalf("decode:\n got %+v\nwant %+v", got, f.want)
			}

			canon := wire
			if f.canon != "" {
				canon = unhex(f.canon)
			}
			enc, err := AppendPacket(nil, f.v, f.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, canon) {
				t.Fatalf("encode:\n got % x\nwant % x", enc, canon)
			}

			// Round trip through the encoder, appending after a prefix so
			// that offsets other than 0 are exercised too.
			enc, _ = AppendPacket([]byte{0xee}, f.v, got)
			again, err := decodeWire(t, f.v, enc[1:])
			if err != nil {
				t.Fatalf("decode of re-encoding: %v", err)
			}
			if !reflect.DeepEqual(again, f.want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", again, f.want)
			}
			if p, ok := f.want.(*Publish); ok {
				if n := PublishSize(f.v, p); n != len(canon) {
					t.Fatalf("PublishSize = %d, want %d", n, len(canon))
				}
			}
		})
	}
}

// TestFixturesZeroCopy checks that decoded byte fields alias the body.
func TestFixturesZeroCopy(t *testing.T) {
	wire := unhex("30 0a 00 03 61 2f 62 68 65 6c 6c 6f")
	var p Publish
	if err := DecodePublish(V311, 0, wire[2:], &p); err != nil {
		t.Fatal(err)
	}
	wire[4], wire[7] = 'A', 'H'
	if string(p.Topic) != "A/b" || string(p.Payload) != "Hello" {
		t.Fatalf("decoded fields do not alias the body: %q %q", p.Topic, p.Payload)
	}
	if cap(p.Topic) != len(p.Topic) {
		t.Fatalf("topic capacity %d reaches past the field", cap(p.Topic))
	}
}

func TestDecodeHeader(t *testing.T) {
	tests := []struct {
		in        string
		typ       Type
		flags     byte
		remaining int
		n         int
		err       error
	}{
		{in: "", n: 0},
		{in: "30", n: 0},
		{in: "30 80", n: 0},
		{in: "30 ff ff ff", n: 0},
		{in: "30 00", typ: PUBLISH, remaining: 0, n: 2},
		{in: "3d 7f", typ: PUBLISH, flags: 0x0d, remaining: 127, n: 2},
		{in: "82 80 01", typ: SUBSCRIBE, flags: 2, remaining: 128, n: 3},
		{in: "30 ff 7f", typ: PUBLISH, remaining: 16383, n: 3},
		{in: "30 80 80 01", typ: PUBLISH, remaining: 16384, n: 4},
		{in: "30 ff ff 7f", typ: PUBLISH, remaining: 2097151, n: 4},
		{in: "30 80 80 80 01", typ: PUBLISH, remaining: 2097152, n: 5},
		{in: "f0 ff ff ff 7f 00 00", typ: AUTH, remaining: MaxRemainingLength, n: 5},
		{in: "30 ff ff ff ff", err: MalformedPacket},
		{in: "30 80 80 80 80 01", err: MalformedPacket},
		{in: "30 80 00", err: MalformedPacket},       // non-minimal [MQTT-1.5.5-1]
		{in: "30 ff 80 80 00", err: MalformedPacket}, // non-minimal
		{in: "00 00", err: MalformedPacket},          // reserved type 0
		{in: "0f", err: MalformedPacket},
	}
	for _, tc := range tests {
		typ, flags, remaining, n, err := DecodeHeader(unhex(tc.in))
		if typ != tc.typ || flags != tc.flags || remaining != tc.remaining || n != tc.n || err != tc.err {
			t.Errorf("DecodeHeader(%s) = %v %#x %d %d %v; want %v %#x %d %d %v", tc.in,
				typ, flags, remaining, n, err, tc.typ, tc.flags, tc.remaining, tc.n, tc.err)
		}
	}
}

func TestVarInt(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemainingLength} {
		b := appendVarInt(nil, uint32(n))
		if len(b) != VarIntSize(n) {
			t.Errorf("VarIntSize(%d) = %d, encoding is % x", n, VarIntSize(n), b)
		}
		v, rest, ok := readVarInt(b)
		if !ok || int(v) != n || len(rest) != 0 {
			t.Errorf("readVarInt(% x) = %d %v", b, v, ok)
		}
	}
}

// TestDecodeReuse decodes every fixture into structs that already hold the
// previous fixture of the same kind, and checks that nothing of the
// previous packet survives: the re-encoding must equal that of a fresh
// decode.
func TestDecodeReuse(t *testing.T) {
	var (
		c  Connect
		ca Connack
		p  Publish
		a  Ack
		s  Subscribe
		sa Suback
		u  Unsubscribe
		ua Unsuback
		d  Disconnect
		au Auth
	)
	for _, f := range fixtures {
		wire := unhex(f.wire)
		typ, flags, _, n, _ := DecodeHeader(wire)
		body := wire[n:]
		var target any
		var err error
		switch typ {
		case CONNECT:
			target, err = &c, DecodeConnect(flags, body, &c)
		case CONNACK:
			target, err = &ca, DecodeConnack(f.v, flags, body, &ca)
		case PUBLISH:
			target, err = &p, DecodePublish(f.v, flags, body, &p)
		case PUBACK, PUBREC, PUBREL, PUBCOMP:
			target, err = &a, DecodeAck(f.v, typ, flags, body, &a)
		case SUBSCRIBE:
			target, err = &s, DecodeSubscribe(f.v, flags, body, &s)
		case SUBACK:
			target, err = &sa, DecodeSuback(f.v, flags, body, &sa)
		case UNSUBSCRIBE:
			target, err = &u, DecodeUnsubscribe(f.v, flags, body, &u)
		case UNSUBACK:
			target, err = &ua, DecodeUnsuback(f.v, flags, body, &ua)
		case DISCONNECT:
			target, err = &d, DecodeDisconnect(f.v, flags, body, &d)
		case AUTH:
			target, err = &au, DecodeAuth(flags, body, &au)
		default:
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		got, _ := AppendPacket(nil, f.v, target)
		want, _ := AppendPacket(nil, f.v, f.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: reused struct encodes as\n% x\nwant\n% x", f.name, got, want)
		}
	}
}

// TestV3IgnoresV5Fields checks that v3 encoders drop what v3 cannot carry.
func TestV3IgnoresV5Fields(t *testing.T) {
	props := Properties{Has: HasMessageExpiry | HasSessionExpiry, MessageExpiry: 9, SessionExpiry: 9,
		ReasonString: bs("r"), UserProperties: []UserProperty{{bs("k"), bs("v")}}, SubscriptionIDs: []uint32{4}}
	tests := []struct {
		name string
		pkt  any
		want string
	}{
		{"publish", &Publish{Topic: bs("t"), Payload: bs("p"), Properties: props}, "30 04 00 01 74 70"},
		{"puback", &Ack{Type: PUBACK, PacketID: 1, ReasonCode: QuotaExceeded, Properties: props}, "40 02 00 01"},
		{"unsuback via ack", &Ack{Type: UNSUBACK, PacketID: 1, ReasonCode: NotAuthorized}, "b0 02 00 01"},
		{"connack", &Connack{SessionPresent: true, ReasonCode: NotAuthorized, Properties: props}, "20 02 01 05"},
		{"subscribe", &Subscribe{PacketID: 1, Properties: props, Subscriptions: []Subscription{
			{Filter: bs("t"), QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}}, "82 06 00 01 00 01 74 01"},
		{"suback", &Suback{PacketID: 1, Properties: props, ReasonCodes: []ReasonCode{GrantedQoS2, NotAuthorized, QuotaExceeded}},
			"90 05 00 01 02 80 80"},
		{"unsubscribe", &Unsubscribe{PacketID: 1, Properties: props, Filters: [][]byte{bs("t")}}, "a2 05 00 01 00 01 74"},
		{"unsuback", &Unsuback{PacketID: 1, Properties: props, ReasonCodes: []ReasonCode{Success}}, "b0 02 00 01"},
		{"disconnect", &Disconnect{ReasonCode: ServerShuttingDown, Properties: props}, "e0 00"},
		{"connect", &Connect{Version: V311, ClientID: bs("c"), Properties: props}, "10 0d 00 04 4d 51 54 54 04 00 00 00 00 01 63"},
	}
	for _, tc := range tests {
		got, err := AppendPacket(nil, V311, tc.pkt)
		if err != nil || !bytes.Equal(got, unhex(tc.want)) {
			t.Errorf("%s: got % x (%v), want %s", tc.name, got, err, tc.want)
		}
	}
}

// TestV3ConnackCodes checks that AppendConnack maps reason codes onto the
// v3 return codes with V3ConnackCode and passes raw return codes through.
func TestV3ConnackCodes(t *testing.T) {
	for rc, want := range map[ReasonCode]byte{
		Success: 0, UnsupportedProtocolVersion: 1, ClientIdentifierNotValid: 2, ServerUnavailable: 3,
		ServerBusy: 3, BadUserNameOrPassword: 4, NotAuthorized: 5, Banned: 5,
		1: 1, 2: 2, 3: 3, 4: 4, 5: 5,
	} {
		for _, v := range []Version{V31, V311} {
			got := AppendConnack(nil, v, &Connack{ReasonCode: rc})
			if !bytes.Equal(got, []byte{0x20, 2, 0, want}) {
				t.Errorf("v%d %v: got % x, want return code %d", v, rc, got, want)
			}
		}
	}
	// MQTT 3.1 has no session present flag.
	if got := AppendConnack(nil, V31, &Connack{SessionPresent: true}); !bytes.Equal(got, unhex("20 02 00 00")) {
		t.Errorf("3.1 session present: got % x", got)
	}
}

// TestV5ShortForms checks the omission rules of the v5 encoders
// [MQTT-3.4.2-1][MQTT-3.14.2.1][MQTT-3.15.2.1].
func TestV5ShortForms(t *testing.T) {
	rs := Properties{ReasonString: bs("r")}
	tests := []struct {
		name string
		pkt  any
		want string
	}{
		{"puback success", &Ack{Type: PUBACK, PacketID: 1}, "40 02 00 01"},
		{"pubrel success", &Ack{Type: PUBREL, PacketID: 1}, "62 02 00 01"},
		{"pubrec reason", &Ack{Type: PUBREC, PacketID: 1, ReasonCode: QuotaExceeded}, "50 03 00 01 97"},
		{"pubcomp success props", &Ack{Type: PUBCOMP, PacketID: 1, Properties: rs}, "70 08 00 01 00 04 1f 00 01 72"},
		{"unsuback via ack", &Ack{Type: UNSUBACK, PacketID: 1, ReasonCode: NotAuthorized}, "b0 04 00 01 00 87"},
		{"disconnect normal", &Disconnect{}, "e0 00"},
		{"disconnect reason", &Disconnect{ReasonCode: ServerShuttingDown}, "e0 01 8b"},
		{"disconnect normal props", &Disconnect{Properties: rs}, "e0 06 00 04 1f 00 01 72"},
		{"auth success", &Auth{}, "f0 00"},
		{"auth reason", &Auth{ReasonCode: ContinueAuthentication}, "f0 01 18"},
		// A property not allowed in the packet is not written.
		{"puback drops topic alias", &Ack{Type: PUBACK, PacketID: 1, Properties: Properties{Has: HasTopicAlias, TopicAlias: 3}}, "40 02 00 01"},
		{"subscribe writes one subscription id", &Subscribe{PacketID: 1, Properties: Properties{SubscriptionIDs: []uint32{1, 2}},
			Subscriptions: []Subscription{{Filter: bs("t")}}}, "82 09 00 01 02 0b 01 00 01 74 00"},
		{"publish clears dup at qos 0", &Publish{Dup: true, PacketID: 9, Topic: bs("t")}, "30 04 00 01 74 00"},
	}
	for _, tc := range tests {
		got, err := AppendPacket(nil, V5, tc.pkt)
		if err != nil || !bytes.Equal(got, unhex(tc.want)) {
			t.Errorf("%s: got % x (%v), want %s", tc.name, got, err, tc.want)
		}
	}
}

func TestAppendPacketUnknown(t *testing.T) {
	for _, pkt := range []any{nil, 3, CONNECT, &Ack{Type: SUBSCRIBE}} {
		if _, err := AppendPacket(nil, V5, pkt); err == nil {
			t.Errorf("AppendPacket(%v) succeeded", pkt)
		}
	}
}

func TestReadPacket(t *testing.T) {
	var stream []byte
	for _, f := range fixtures {
		if f.v == V311 {
			stream = append(stream, unhex(f.wire)...)
		}
	}
	r := bytes.NewReader(stream)
	for _, f := range fixtures {
		if f.v != V311 {
			continue
		}
		got, err := ReadPacket(r, V311, 0)
		if err != nil || !reflect.DeepEqual(got, f.want) {
			t.Fatalf("%s: ReadPacket = %+v, %v", f.name, got, err)
		}
	}
	if _, err := ReadPacket(r, V311, 0); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}

	for _, tc := range []struct {
		in      string
		maxSize int
		err     error
	}{
		{"30 0a 00 03 61 2f 62 68 65 6c 6c 6f", 11, PacketTooLarge},
		{"30 0a 00 03 61 2f 62 68 65 6c 6c 6f", 12, nil},
		{"30", 0, io.ErrUnexpectedEOF},
		{"30 0a 00 03", 0, io.ErrUnexpectedEOF},
		{"30 80 80 80 80", 0, MalformedPacket},
		{"3c 02 00 00", 0, MalformedPacket}, // QoS 3
	} {
		_, err := ReadPacket(bytes.NewReader(unhex(tc.in)), V311, tc.maxSize)
		if !errors.Is(err, tc.err) {
			t.Errorf("ReadPacket(%s, max %d) = %v, want %v", tc.in, tc.maxSize, err, tc.err)
		}
	}
}

func TestClone(t *testing.T) {
	fx := fixtureNamed("connect/5 all properties and will properties")
	wire := unhex(fx.wire)
	c, err := decodeWire(t, V5, wire)
	if err != nil {
		t.Fatal(err)
	}
	orig := c.(*Connect).WillProperties
	clone := orig.Clone()
	if !reflect.DeepEqual(clone, orig) {
		t.Fatalf("clone differs:\n%+v\n%+v", clone, orig)
	}
	for i := range wire {
		wire[i] = 0
	}
	want := fx.want.(*Connect).WillProperties
	if !reflect.DeepEqual(clone, want) {
		t.Fatalf("clone shares memory with the packet:\n%+v", clone)
	}
	var empty Properties
	if got := empty.Clone(); !reflect.DeepEqual(got, empty) {
		t.Fatalf("clone of empty: %+v", got)
	}
	if got := (&Properties{ContentType: []byte{}}).Clone(); got.ContentType == nil {
		t.Fatal("clone lost an empty, present property")
	}
}

func TestReasonCodeError(t *testing.T) {
	var err error = ProtocolError
	if err.Error() != "protocol error" {
		t.Fatal(err)
	}
	if s := ReasonCode(0x03).Error(); s != "reason code 0x03" {
		t.Fatal(s)
	}
}
