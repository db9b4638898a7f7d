package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// mqttConn is one raw MQTT connection after a successful CONNECT.
type mqttConn struct {
	net.Conn
	v packet.Version
	// recvMax is how many QoS > 0 publishes the broker lets us have
	// unacknowledged (its v5 Receive Maximum; 65535 otherwise).
	recvMax int
}

// transportCfg says how to reach the broker: plain TCP, MQTT over
// WebSocket or MQTT over Socket.IO (ws.go).
type transportCfg struct {
	kind string // tcp, ws, socketio
	path string // HTTP path of ws and socketio
}

func (t transportCfg) dial(addr string, timeout time.Duration) (net.Conn, error) {
	switch t.kind {
	case "ws":
		return dialWS(addr, t.path, false, timeout)
	case "socketio":
		return dialWS(addr, t.path, true, timeout)
	}
	return net.DialTimeout("tcp", addr, timeout)
}

// dialMQTT connects and completes the CONNECT / CONNACK exchange: a clean
// session, no keepalive (the tool never idles long enough to need one, and
// pings would add traffic to the idle-connection measurement).
func dialMQTT(tr transportCfg, addr string, v packet.Version, clientID string, timeout time.Duration) (*mqttConn, error) {
	c, err := tr.dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	mc := &mqttConn{Conn: c, v: v, recvMax: 65535}
	if err := mc.handshake(clientID, timeout); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", clientID, err)
	}
	return mc, nil
}

func (mc *mqttConn) handshake(clientID string, timeout time.Duration) error {
	mc.SetDeadline(time.Now().Add(timeout))
	defer mc.SetDeadline(time.Time{})
	buf := packet.AppendConnect(nil, &packet.Connect{
		Version:    mc.v,
		CleanStart: true,
		ClientID:   []byte(clientID),
	})
	if _, err := mc.Write(buf); err != nil {
		return err
	}
	t, flags, body, err := readPacket(mc)
	if err != nil {
		return fmt.Errorf("reading CONNACK: %w", err)
	}
	if t != packet.CONNACK {
		return fmt.Errorf("got %v, want CONNACK", t)
	}
	var ca packet.Connack
	if err := packet.DecodeConnack(mc.v, flags, body, &ca); err != nil {
		return fmt.Errorf("CONNACK: %w", err)
	}
	if ca.ReasonCode != packet.Success {
		return fmt.Errorf("CONNACK refused: %v", ca.ReasonCode)
	}
	if ca.Properties.Has&packet.HasReceiveMaximum != 0 {
		mc.recvMax = int(ca.Properties.ReceiveMaximum)
	}
	return nil
}

// subscribe sends SUBSCRIBE and waits for its SUBACK.
func (mc *mqttConn) subscribe(filter string, qos byte, timeout time.Duration) error {
	mc.SetDeadline(time.Now().Add(timeout))
	defer mc.SetDeadline(time.Time{})
	const id = 1
	buf := packet.AppendSubscribe(nil, mc.v, &packet.Subscribe{
		PacketID:      id,
		Subscriptions: []packet.Subscription{{Filter: []byte(filter), QoS: qos}},
	})
	if _, err := mc.Write(buf); err != nil {
		return err
	}
	for {
		t, flags, body, err := readPacket(mc)
		if err != nil {
			return fmt.Errorf("reading SUBACK: %w", err)
		}
		if t != packet.SUBACK {
			continue // nothing else is expected; ignore it
		}
		var sa packet.Suback
		if err := packet.DecodeSuback(mc.v, flags, body, &sa); err != nil {
			return fmt.Errorf("SUBACK: %w", err)
		}
		if sa.PacketID != id || len(sa.ReasonCodes) != 1 {
			return errors.New("SUBACK does not match the SUBSCRIBE")
		}
		if rc := sa.ReasonCodes[0]; rc >= 0x80 {
			return fmt.Errorf("subscription to %q refused: 0x%02x", filter, byte(rc))
		}
		return nil
	}
}

// disconnect sends DISCONNECT (best effort) and closes the connection.
func (mc *mqttConn) disconnect() {
	mc.SetWriteDeadline(time.Now().Add(time.Second))
	mc.Write(packet.AppendDisconnect(nil, mc.v, &packet.Disconnect{}))
	mc.Close()
}

// readPacket reads exactly one packet (used during setup only, where
// reading byte by byte does not matter; the hot path is packetReader).
func readPacket(r io.Reader) (packet.Type, byte, []byte, error) {
	hdr := make([]byte, 0, 5)
	var one [1]byte
	for {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			return 0, 0, nil, err
		}
		hdr = append(hdr, one[0])
		if len(hdr) < 2 {
			continue
		}
		t, flags, rem, n, err := packet.DecodeHeader(hdr)
		if err != nil {
			return 0, 0, nil, err
		}
		if n == 0 {
			continue
		}
		body := make([]byte, rem)
		if _, err := io.ReadFull(r, body); err != nil {
			return 0, 0, nil, err
		}
		return t, flags, body, nil
	}
}

// packetHandler consumes the packets of one connection.
type packetHandler interface {
	// packet handles one packet; body aliases the read buffer.
	packet(t packet.Type, flags byte, body []byte) error
	// flush runs after every read, once its packets have been handled:
	// the place to write batched acknowledgements and publish counters.
	flush() error
}

// readLoop reads conn until it fails, handing every whole packet to h;
// it always returns a non-nil error (io.EOF at the end of the stream).
// It allocates only to grow its buffer for a packet larger than it.
func readLoop(conn io.Reader, size int, h packetHandler) error {
	buf := make([]byte, size)
	have := 0
	for {
		n, err := conn.Read(buf[have:])
		if n > 0 {
			have += n
			off := 0
			for off < have {
				t, flags, rem, hl, herr := packet.DecodeHeader(buf[off:have])
				if herr != nil {
					return herr
				}
				if hl == 0 || off+hl+rem > have {
					if hl > 0 && hl+rem > len(buf) {
						nb := make([]byte, hl+rem)
						copy(nb, buf[off:have])
						buf, have, off = nb, have-off, 0
					}
					break
				}
				if perr := h.packet(t, flags, buf[off+hl:off+hl+rem]); perr != nil {
					return perr
				}
				off += hl + rem
			}
			if off > 0 {
				have = copy(buf, buf[off:have])
			}
			if ferr := h.flush(); ferr != nil {
				return ferr
			}
		}
		if err != nil {
			return err
		}
	}
}
