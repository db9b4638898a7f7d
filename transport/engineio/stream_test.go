package engineio

import (
	"io"
	"testing"
	"time"

	"github.com/mqttio/mqttio/transport/internal/eiotest"
)

// Plain Engine.IO as a byte stream: binary messages in, one binary message
// per Write out; a text message closes the session.
func TestStream(t *testing.T) {
	st := NewStream(quiet(), 0)
	base := serve(t, st, st)
	go func() { // the core: echo the stream
		for {
			c, err := st.Listener().Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	sid, _ := eiotest.Handshake(t, base+"4")
	url := base + "4&transport=polling&sid=" + sid
	eiotest.PostOK(t, url, "bAQID")
	if r := eiotest.Get(t, url); string(r.Body) != "bAQID" {
		t.Fatalf("GET = %q", r.Body)
	}
	c := eiotest.Dial(t, base+"4&transport=websocket")
	eiotest.Read(t, c)
	eiotest.Send(t, c, eiotest.Binary([]byte{1, 2}))
	eiotest.Expect(t, c, eiotest.Binary([]byte{1, 2}))
	eiotest.Send(t, c, eiotest.Text("4text"))
	eiotest.Expect(t, c, eiotest.Text("1"))
	eiotest.WaitFor(t, 5*time.Second, "the session to close", func() bool { return st.Len() == 1 })
}
