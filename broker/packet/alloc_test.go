package packet

import (
	"bytes"
	"testing"
)

// Allocation guards and benchmarks for the publish path, which runs once
// per message per subscriber and must not allocate.

// publishV3 is a QoS 1 PUBLISH with a 64-byte payload.
var publishV3 = unhex("32 49 00 05 61 2f 62 2f 63 00 2a" + hex64)

// publishV5 is the same PUBLISH with a few properties: payload format,
// message expiry, a subscription id and a user property. Properties 0x13
// = 19: 2+5+3+9.
var publishV5 = unhex(`32 5d 00 05 61 2f 62 2f 63 00 2a
	13
	01 01
	02 00 00 00 3c
	0b 80 01
	26 00 02 6b 31 00 02 76 31` + hex64)

// hex64 is a 64-byte payload as hex.
var hex64 = " 3031323334353637 3839616263646566 3031323334353637 3839616263646566" +
	" 3031323334353637 3839616263646566 3031323334353637 3839616263646566"

func TestPublishBenchFixtures(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		wire []byte
	}{{V311, publishV3}, {V5, publishV5}} {
		_, flags, remaining, n, err := DecodeHeader(tc.wire)
		if err != nil || n+remaining != len(tc.wire) {
			t.Fatalf("v%d: header %d+%d of %d, %v", tc.v, n, remaining, len(tc.wire), err)
		}
		var p Publish
		if err := DecodePublish(tc.v, flags, tc.wire[n:], &p); err != nil {
			t.Fatalf("v%d: %v", tc.v, err)
		}
		if string(p.Topic) != "a/b/c" || p.PacketID != 42 || len(p.Payload) != 64 {
			t.Fatalf("v%d: %+v", tc.v, p)
		}
		if tc.v == V5 && (p.Properties.MessageExpiry != 60 || len(p.Properties.SubscriptionIDs) != 1 ||
			len(p.Properties.UserProperties) != 1) {
			t.Fatalf("v5 properties: %+v", p.Properties)
		}
		if got := AppendPublish(nil, tc.v, &p); !bytes.Equal(got, tc.wire) {
			t.Fatalf("v%d: re-encoded\n% x\nwant\n% x", tc.v, got, tc.wire)
		}
	}
}

func TestAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    Version
		wire []byte
	}{{"v3", V311, publishV3}, {"v5", V5, publishV5}} {
		body := tc.wire[2:]
		flags := tc.wire[0] & 0x0f
		var p Publish
		if err := DecodePublish(tc.v, flags, body, &p); err != nil { // grows the slices
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() {
			if err := DecodePublish(tc.v, flags, body, &p); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: DecodePublish into a reused struct: %v allocs", tc.name, n)
		}
		buf := make([]byte, 0, 256)
		if n := testing.AllocsPerRun(100, func() {
			buf = AppendPublish(buf[:0], tc.v, &p)
		}); n != 0 {
			t.Errorf("%s: AppendPublish with capacity: %v allocs", tc.name, n)
		}
		if n := testing.AllocsPerRun(100, func() {
			_ = PublishSize(tc.v, &p)
		}); n != 0 {
			t.Errorf("%s: PublishSize: %v allocs", tc.name, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, _, _, _, err := DecodeHeader(publishV5); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeHeader: %v allocs", n)
	}
	// Errors are ReasonCode values in an error interface: no allocation.
	if n := testing.AllocsPerRun(100, func() {
		var p Publish
		if DecodePublish(V311, 0x06, publishV3[2:], &p) != MalformedPacket {
			t.Fatal("QoS 3 accepted")
		}
	}); n != 0 {
		t.Errorf("decode error: %v allocs", n)
	}
}

// TestAllocsOtherPackets checks that every decoder reuses the caller's
// struct and every encoder writes into spare capacity without allocating.
func TestAllocsOtherPackets(t *testing.T) {
	buf := make([]byte, 0, 1024)
	for _, f := range fixtures {
		wire := unhex(f.wire)
		typ, flags, _, n, _ := DecodeHeader(wire)
		body := wire[n:]
		var decode func() error
		switch typ {
		case CONNECT:
			var c Connect
			decode = func() error { return DecodeConnect(flags, body, &c) }
		case SUBSCRIBE:
			var s Subscribe
			decode = func() error { return DecodeSubscribe(f.v, flags, body, &s) }
		case UNSUBSCRIBE:
			var u Unsubscribe
			decode = func() error { return DecodeUnsubscribe(f.v, flags, body, &u) }
		case PUBACK, PUBREC, PUBREL, PUBCOMP:
			var a Ack
			decode = func() error { return DecodeAck(f.v, typ, flags, body, &a) }
		case SUBACK:
			var s Suback
			decode = func() error { return DecodeSuback(f.v, flags, body, &s) }
		case DISCONNECT:
			var d Disconnect
			decode = func() error { return DecodeDisconnect(f.v, flags, body, &d) }
		}
		if decode != nil {
			_ = decode()
			if a := testing.AllocsPerRun(10, func() { _ = decode() }); a != 0 {
				t.Errorf("%s: decode into a reused struct: %v allocs", f.name, a)
			}
		}
		var encode func()
		switch p := f.want.(type) {
		case *Connect:
			encode = func() { buf = AppendConnect(buf[:0], p) }
		case *Connack:
			encode = func() { buf = AppendConnack(buf[:0], f.v, p) }
		case *Ack:
			encode = func() { buf = AppendAck(buf[:0], f.v, p) }
		case *Subscribe:
			encode = func() { buf = AppendSubscribe(buf[:0], f.v, p) }
		case *Suback:
			encode = func() { buf = AppendSuback(buf[:0], f.v, p) }
		case *Unsubscribe:
			encode = func() { buf = AppendUnsubscribe(buf[:0], f.v, p) }
		case *Unsuback:
			encode = func() { buf = AppendUnsuback(buf[:0], f.v, p) }
		case *Disconnect:
			encode = func() { buf = AppendDisconnect(buf[:0], f.v, p) }
		case *Auth:
			encode = func() { buf = AppendAuth(buf[:0], p) }
		}
		if encode != nil {
			if a := testing.AllocsPerRun(10, encode); a != 0 {
				t.Errorf("%s: encode with capacity: %v allocs", f.name, a)
			}
		}
	}
}

func benchDecode(b *testing.B, v Version, wire []byte) {
	var p Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		_, flags, _, n, err := DecodeHeader(wire)
		if err != nil {
			b.Fatal(err)
		}
		if err := DecodePublish(v, flags, wire[n:], &p); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppend(b *testing.B, v Version, wire []byte) {
	var p Publish
	if err := DecodePublish(v, wire[0]&0x0f, wire[2:], &p); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		buf = AppendPublish(buf[:0], v, &p)
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	b.Run("v3", func(b *testing.B) { benchDecode(b, V311, publishV3) })
	b.Run("v5", func(b *testing.B) { benchDecode(b, V5, publishV5) })
}

func BenchmarkAppendPublish(b *testing.B) {
	b.Run("v3", func(b *testing.B) { benchAppend(b, V311, publishV3) })
	b.Run("v5", func(b *testing.B) { benchAppend(b, V5, publishV5) })
}
