package packet

import (
	"bytes"
	"reflect"
	"testing"
)

// The fuzz targets check that no input makes a decoder panic, and that
// every packet a decoder accepts survives encoding: encode, decode again,
// and the two decoded structs are equal; encoding is then a fixed point.
// go test runs the seeds (the fixtures, the error rows and the crashers in
// testdata/fuzz) as ordinary tests.

var versions = [...]Version{V31, V311, V5}

// seedPackets is every hand-written packet of the fixtures and error rows.
func seedPackets() [][]byte {
	var seeds [][]byte
	for _, f := range fixtures {
		seeds = append(seeds, unhex(f.wire))
	}
	for _, e := range errorCases {
		body := unhex(e.body)
		if e.first == 0 {
			seeds = append(seeds, body)
			continue
		}
		pkt := appendHeader(nil, Type(e.first>>4), e.first&0x0f, len(body))
		seeds = append(seeds, append(pkt, body...))
	}
	return seeds
}

func FuzzDecode(f *testing.F) {
	for _, s := range seedPackets() {
		f.Add(s)
	}
	// Two packets back to back.
	f.Add(append(unhex(fixtures[0].wire), unhex("e0 00")...))

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range versions {
			buf := data
			for len(buf) > 0 {
				typ, flags, remaining, n, err := DecodeHeader(buf)
				if err != nil || n == 0 {
					break
				}
				if n < 2 || n > 5 || remaining < 0 || remaining > MaxRemainingLength {
					t.Fatalf("DecodeHeader(% x) = n %d, remaining %d", buf[:min(len(buf), 5)], n, remaining)
				}
				if len(buf)-n < remaining {
					break
				}
				body := buf[n : n+remaining]
				buf = buf[n+remaining:]
				checkPacket(t, v, typ, flags, body)
			}
		}
	})
}

// everyPropertyPublish is the v5 PUBLISH fixture with every property.
var everyPropertyPublish = unhex(fixtureNamed("publish/5 every publish property").wire)

// reusedPublish has held a PUBLISH with every property, so that decoding
// into it shows whether anything of an earlier packet survives.
func reusedPublish(t *testing.T) *Publish {
	var p Publish
	wire := everyPropertyPublish
	if err := DecodePublish(V5, wire[0]&0x0f, wire[2:], &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

// checkPacket decodes one packet and, if that succeeds, checks that it
// round-trips through the encoder.
func checkPacket(t *testing.T, v Version, typ Type, flags byte, body []byte) {
	t.Helper()
	pkt, err := DecodePacket(v, typ, flags, body)
	if typ == PUBLISH {
		// A reused struct must give the same verdict and the same packet.
		p := reusedPublish(t)
		err2 := DecodePublish(v, flags, body, p)
		if err2 != err {
			t.Fatalf("v%d PUBLISH: fresh struct %v, reused struct %v", v, err, err2)
		}
		if err == nil {
			a, b := AppendPublish(nil, v, pkt.(*Publish)), AppendPublish(nil, v, p)
			if !bytes.Equal(a, b) {
				t.Fatalf("v%d PUBLISH: reused struct encodes as\n% x\nfresh as\n% x", v, b, a)
			}
		}
	}
	if err != nil {
		if _, ok := err.(ReasonCode); !ok {
			t.Fatalf("v%d %v: error %T %v is not a ReasonCode", v, typ, err, err)
		}
		return
	}
	enc, err := AppendPacket(nil, v, pkt)
	if err != nil {
		t.Fatalf("v%d %v: %v", v, typ, err)
	}
	if p, ok := pkt.(*Publish); ok && PublishSize(v, p) != len(enc) {
		t.Fatalf("v%d PublishSize %d, encoded %d", v, PublishSize(v, p), len(enc))
	}
	typ2, flags2, remaining, n, err := DecodeHeader(enc)
	if err != nil || n == 0 || n+remaining != len(enc) {
		t.Fatalf("v%d %v: re-encoding % x has a bad header: %d+%d, %v", v, typ, enc, n, remaining, err)
	}
	if typ2 != typ {
		t.Fatalf("v%d: %v re-encoded as %v", v, typ, typ2)
	}
	pkt2, err := DecodePacket(v, typ2, flags2, enc[n:])
	if err != nil {
		t.Fatalf("v%d %v: decoding the re-encoding % x: %v\npacket %+v", v, typ, enc, err, pkt)
	}
	if !reflect.DeepEqual(pkt, pkt2) {
		t.Fatalf("v%d %v: round trip through % x\n got %+v\nwant %+v", v, typ, enc, pkt2, pkt)
	}
	enc2, _ := AppendPacket(nil, v, pkt2)
	if !bytes.Equal(enc, enc2) {
		t.Fatalf("v%d %v: encoding is not stable:\n% x\n% x", v, typ, enc, enc2)
	}
}

// FuzzConnect feeds CONNECT bodies straight to DecodeConnect, so that the
// fuzzer spends its time past the fixed header, in the connect flags, the
// will and the two property sets.
func FuzzConnect(f *testing.F) {
	for _, s := range seedPackets() {
		if len(s) > 0 && Type(s[0]>>4) == CONNECT {
			_, _, _, n, err := DecodeHeader(s)
			if err == nil && n > 0 {
				f.Add(s[n:])
			}
		}
	}
	var reused Connect
	f.Fuzz(func(t *testing.T, body []byte) {
		var c Connect
		err := DecodeConnect(0, body, &c)
		// The struct reused across inputs must reach the same verdict.
		if err2 := DecodeConnect(0, body, &reused); err2 != err {
			t.Fatalf("fresh struct %v, reused struct %v", err, err2)
		}
		if err != nil {
			if _, ok := err.(ReasonCode); !ok {
				t.Fatalf("error %T %v is not a ReasonCode", err, err)
			}
			return
		}
		if !bytes.Equal(AppendConnect(nil, &c), AppendConnect(nil, &reused)) {
			t.Fatal("reused struct encodes differently")
		}
		enc := AppendConnect(nil, &c)
		_, flags, remaining, n, err := DecodeHeader(enc)
		if err != nil || n+remaining != len(enc) {
			t.Fatalf("bad header in % x: %v", enc, err)
		}
		var c2 Connect
		if err := DecodeConnect(flags, enc[n:], &c2); err != nil {
			t.Fatalf("decoding the re-encoding % x: %v", enc, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip through % x\n got %+v\nwant %+v", enc, c2, c)
		}
	})
}
