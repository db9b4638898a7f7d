package engineio

import (
	"bytes"
	"testing"
)

func bin(b ...byte) Packet               { return Packet{Type: MessagePacket, Data: b, Binary: true} }
func text(t PacketType, s string) Packet { return Packet{Type: t, Data: []byte(s)} }

func TestPayloadV4(t *testing.T) {
	for _, tc := range []struct {
		wire string
		pkts []Packet
	}{
		{"4hello", []Packet{text(MessagePacket, "hello")}},
		{"2", []Packet{text(PingPacket, "")}},
		{"4hello\x1ebAQID\x1e3", []Packet{text(MessagePacket, "hello"), bin(1, 2, 3), text(PongPacket, "")}},
		{"451-/mqtt,[\"message\",{\"_placeholder\":true,\"num\":0}]\x1ebEA8ABE1RVFQEAgA8AANpbzE=", []Packet{
			text(MessagePacket, `51-/mqtt,["message",{"_placeholder":true,"num":0}]`),
			bin(0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x69, 0x6f, 0x31),
		}},
		{"4€ 😀", []Packet{text(MessagePacket, "€ 😀")}},
	} {
		got, err := DecodePayloadV4([]byte(tc.wire))
		if err != nil || !equalPackets(got, tc.pkts) {
			t.Errorf("decode %q = %v, %v; want %v", tc.wire, got, err, tc.pkts)
		}
		if enc := AppendPayloadV4(nil, tc.pkts); string(enc) != tc.wire {
			t.Errorf("encode %v = %q; want %q", tc.pkts, enc, tc.wire)
		}
	}
	for _, bad := range []string{"", "7", "x", "4a\x1e", "\x1e4a", "b!!", "4a\x1e\x1e4b"} {
		if got, err := DecodePayloadV4([]byte(bad)); err == nil {
			t.Errorf("decode %q = %v, want an error", bad, got)
		}
	}
}

func TestPayloadV3Text(t *testing.T) {
	for _, tc := range []struct {
		wire string
		pkts []Packet
	}{
		{"2:408:40/mqtt,", []Packet{text(MessagePacket, "0"), text(MessagePacket, "0/mqtt,")}},
		// The transcript's binary message in a b64=1 body.
		{"26:b4EA8ABE1RVFQEAgA8AANpbzE=", []Packet{bin(0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x69, 0x6f, 0x31)}},
		// Lengths count UTF-16 code units: é is 1 (2 bytes), 😀 is 2 (4 bytes).
		{"4:4é😀1:2", []Packet{text(MessagePacket, "é😀"), text(PingPacket, "")}},
		{"6:2probe", []Packet{text(PingPacket, "probe")}},
	} {
		got, err := DecodePayloadV3Text([]byte(tc.wire))
		if err != nil || !equalPackets(got, tc.pkts) {
			t.Errorf("decode %q = %v, %v; want %v", tc.wire, got, err, tc.pkts)
		}
		if enc := AppendPayloadV3Text(nil, tc.pkts); string(enc) != tc.wire {
			t.Errorf("encode %v = %q; want %q", tc.pkts, enc, tc.wire)
		}
	}
	for _, bad := range []string{"", "5:4", "2:4😀", ":4", "x:4", "1:", "0:", "01234567890:4", "4:4ab1:"} {
		if got, err := DecodePayloadV3Text([]byte(bad)); err == nil {
			t.Errorf("decode %q = %v, want an error", bad, got)
		}
	}
}

func TestPayloadV3Binary(t *testing.T) {
	hdr := `451-/mqtt,["message",{"_placeholder":true,"num":0}]`
	connect := []byte{0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x69, 0x6f, 0x31}
	// The captured XHR2 POST: 00 05 01 ff "451-…" 01 01 08 ff 04 10 0f …
	wire := append([]byte{0x00, 5, 1, 0xff}, hdr...)
	wire = append(wire, 0x01, 1, 8, 0xff, 0x04)
	wire = append(wire, connect...)
	want := []Packet{text(MessagePacket, hdr[1:]), bin(connect...)}
	got, err := DecodePayloadV3Binary(wire)
	if err != nil || !equalPackets(got, want) {
		t.Fatalf("decode = %v, %v; want %v", got, err, want)
	}
	if enc := AppendPayloadV3Binary(nil, want); !bytes.Equal(enc, wire) {
		t.Fatalf("encode = % x; want % x", enc, wire)
	}
	// The captured answer: 00 05 01 ff "451-…" 01 05 ff 04 20 02 00 00.
	answer := append(append([]byte{0x00, 5, 1, 0xff}, hdr...), 0x01, 5, 0xff, 0x04, 0x20, 0x02, 0x00, 0x00)
	if enc := AppendPayloadV3Binary(nil, []Packet{text(MessagePacket, hdr[1:]), bin(0x20, 2, 0, 0)}); !bytes.Equal(enc, answer) {
		t.Fatalf("encode answer = % x; want % x", enc, answer)
	}
	for _, bad := range [][]byte{{}, {2, 1, 0xff, '4'}, {0, 0xff, '4'}, {0, 2, 0xff, '4'}, {0, 10, 0xff, '4'}, {0, 1}, {1, 1, 0xff, 9}, {0, 1, 0xff, 'x'}} {
		if got, err := DecodePayloadV3Binary(bad); err == nil {
			t.Errorf("decode % x = %v, want an error", bad, got)
		}
	}
}

func equalPackets(a, b []Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Binary != b[i].Binary || !bytes.Equal(a[i].Data, b[i].Data) {
			return false
		}
	}
	return true
}

// The fuzz targets check that decoders never panic and that whatever they
// accept survives an encode/decode round trip unchanged.

func FuzzDecodePayloadV4(f *testing.F) {
	for _, s := range []string{"4hello\x1ebAQID\x1e3", "2", "b", "451-/mqtt,[]\x1ebIAIAAA=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodePayloadV4(body)
		if err != nil {
			return
		}
		again, err := DecodePayloadV4(AppendPayloadV4(nil, pkts))
		if err != nil || !equalPackets(pkts, again) {
			t.Fatalf("round trip of %q: %v, %v", body, again, err)
		}
	})
}

func FuzzDecodePayloadV3Text(f *testing.F) {
	for _, s := range []string{"2:408:40/mqtt,", "26:b4EA8ABE1RVFQEAgA8AANpbzE=", "4:4é😀1:2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodePayloadV3Text(body)
		if err != nil {
			return
		}
		again, err := DecodePayloadV3Text(AppendPayloadV3Text(nil, pkts))
		if err != nil || !equalPackets(pkts, again) {
			t.Fatalf("round trip of %q: %v, %v", body, again, err)
		}
	})
}

func FuzzDecodePayloadV3Binary(f *testing.F) {
	f.Add([]byte{0, 5, 0xff, '4', 'h', 'e', 'l', 'o', 1, 3, 0xff, 4, 1, 2})
	f.Add([]byte{1, 1, 0xff, 4})
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodePayloadV3Binary(body)
		if err != nil {
			return
		}
		again, err := DecodePayloadV3Binary(AppendPayloadV3Binary(nil, pkts))
		if err != nil || !equalPackets(pkts, again) {
			t.Fatalf("round trip of % x: %v, %v", body, again, err)
		}
	})
}
