package httpmux

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/transport/engineio"
	"github.com/mqttio/mqttio/transport/internal/eiotest"
	"github.com/mqttio/mqttio/transport/internal/mqttfake"
)

// Every endpoint answers on the one handler, each feeding its listener.
func TestRoutes(t *testing.T) {
	mux := New(Options{EngineIO: engineio.Options{PingInterval: time.Minute, PingTimeout: time.Minute}})
	broker := mqttfake.New()
	for _, l := range mux.Listeners() {
		go broker.Serve(l)
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(func() { mux.Close(); ts.Close() })

	if r := eiotest.Get(t, ts.URL+"/"); r.Status != 200 || !strings.Contains(string(r.Body), "MQTT.IO") {
		t.Fatalf("page: %d", r.Status)
	}
	for _, f := range []string{"/app.js", "/eio.js", "/sio.js", "/mqtt.js", "/links.js", "/style.css"} {
		if r := eiotest.Get(t, ts.URL+f); r.Status != 200 {
			t.Errorf("%s: %d", f, r.Status)
		}
	}
	connect := []byte{0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x69, 0x6f, 0x31}
	connack := eiotest.Binary([]byte{0x20, 2, 0, 0})

	ws := eiotest.Dial(t, ts.URL+"/mqtt", "mqtt")
	eiotest.Send(t, ws, eiotest.Binary(connect))
	eiotest.Expect(t, ws, connack)

	sio := eiotest.Dial(t, ts.URL+"/socket.io/?EIO=4&transport=websocket")
	eiotest.Read(t, sio)
	eiotest.Send(t, sio, eiotest.Text("40/mqtt,"))
	eiotest.Read(t, sio)
	eiotest.Send(t, sio, eiotest.Text(`451-/mqtt,["message",{"_placeholder":true,"num":0}]`))
	eiotest.Send(t, sio, eiotest.Binary(connect))
	eiotest.Expect(t, sio, eiotest.Text(`451-/mqtt,["message",{"_placeholder":true,"num":0}]`), connack)

	eio := eiotest.Dial(t, ts.URL+"/engine.io/?EIO=4&transport=websocket")
	eiotest.Read(t, eio)
	eiotest.Send(t, eio, eiotest.Binary(connect))
	eiotest.Expect(t, eio, connack)

	if r := eiotest.Get(t, ts.URL+"/engine.io/?EIO=3&transport=polling"); r.Status != 400 {
		t.Fatalf("EIO=3 on /engine.io/: %d (v4 only there)", r.Status)
	}
	if broker.Served() != 3 {
		t.Fatalf("broker served %d conns", broker.Served())
	}
}
