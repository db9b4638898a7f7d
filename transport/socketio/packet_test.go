package socketio

import (
	"bytes"
	"testing"
)

func TestParsePacket(t *testing.T) {
	for _, tc := range []struct {
		wire string
		want Packet
	}{
		{`0/mqtt,`, Packet{Type: Connect, Namespace: "/mqtt", ID: -1}},
		{`0/mqtt,{"token":"abc"}`, Packet{Type: Connect, Namespace: "/mqtt", ID: -1, Data: []byte(`{"token":"abc"}`)}},
		{`0/mqtt`, Packet{Type: Connect, Namespace: "/mqtt", ID: -1}},          // v3 client, no comma
		{`0/mqtt?token=x,`, Packet{Type: Connect, Namespace: "/mqtt", ID: -1}}, // v3 auth query
		{`0`, Packet{Type: Connect, Namespace: "/", ID: -1}},                   // root
		{`1/mqtt,`, Packet{Type: Disconnect, Namespace: "/mqtt", ID: -1}},      //
		{`2["ev",1]`, Packet{Type: Event, Namespace: "/", ID: -1, Data: []byte(`["ev",1]`)}},
		{`2/mqtt,12["ev"]`, Packet{Type: Event, Namespace: "/mqtt", ID: 12, Data: []byte(`["ev"]`)}},
		{`2[7]`, Packet{Type: Event, Namespace: "/", ID: -1, Data: []byte(`[7]`)}},
		{`3/mqtt,12[]`, Packet{Type: Ack, Namespace: "/mqtt", ID: 12, Data: []byte(`[]`)}},
		{`4/mqtt,{"message":"no"}`, Packet{Type: ConnectError, Namespace: "/mqtt", ID: -1, Data: []byte(`{"message":"no"}`)}},
		{`4/mqtt,"Not authorized"`, Packet{Type: ConnectError, Namespace: "/mqtt", ID: -1, Data: []byte(`"Not authorized"`)}},
		{`51-/mqtt,["message",{"_placeholder":true,"num":0}]`, Packet{Type: BinaryEvent, Attachments: 1, Namespace: "/mqtt", ID: -1, Data: mqttArgs}},
		{`62-/mqtt,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, Packet{Type: BinaryAck, Attachments: 2, Namespace: "/mqtt", ID: 3, Data: []byte(`[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)}},
	} {
		got, err := ParsePacket([]byte(tc.wire))
		if err != nil || got.Type != tc.want.Type || got.Attachments != tc.want.Attachments || got.Namespace != tc.want.Namespace ||
			got.ID != tc.want.ID || !bytes.Equal(got.Data, tc.want.Data) {
			t.Errorf("ParsePacket(%s) = %+v, %v; want %+v", tc.wire, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		``, `7`, `x`, `0/mqtt,[]`, `0/mqtt,"s"`, `1/mqtt,{}`, `2/mqtt,{}`, `2/mqtt,[]`, `2/mqtt,["connect"]`,
		`2/mqtt,[{}]`, `2/mqtt,["ev"`, `3/mqtt,1{}`, `4/mqtt,[1]`, `4/mqtt,`, `5/mqtt,["m"]`, `5-/mqtt,["m"]`,
		`511-/mqtt,["m"]`, `5a-["m"]`, `2/mqtt,1234567890123456["ev"]`, `2/mqtt,["ev"]x`,
	} {
		if got, err := ParsePacket([]byte(bad)); err == nil {
			t.Errorf("ParsePacket(%s) = %+v, want an error", bad, got)
		}
	}
}

func TestAppendPacket(t *testing.T) {
	if got := string(eventHeader); got != `51-/mqtt,["message",{"_placeholder":true,"num":0}]` {
		t.Fatalf("event header %s", got)
	}
	if got := string(disconnectPacket); got != "1/mqtt," {
		t.Fatalf("disconnect %s", got)
	}
}

// FuzzParsePacket: no panic, and whatever parses re-encodes to a packet
// that parses the same.
func FuzzParsePacket(f *testing.F) {
	for _, s := range []string{`0/mqtt,{"token":"abc"}`, `0/mqtt?x=1`, `51-/mqtt,["message",{"_placeholder":true,"num":0}]`,
		`2/mqtt,12["ev",1]`, `4"no"`, `62-3[{},{}]`, `1/mqtt,`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			return
		}
		if p.Attachments > MaxAttachments || p.Namespace == "" {
			t.Fatalf("limits: %+v", p)
		}
		again, err := ParsePacket(AppendPacket(nil, p))
		if err != nil || again.Type != p.Type || again.Attachments != p.Attachments || again.Namespace != p.Namespace ||
			again.ID != p.ID || !bytes.Equal(again.Data, p.Data) {
			t.Fatalf("round trip of %q: %+v, %v; was %+v", b, again, err, p)
		}
	})
}
