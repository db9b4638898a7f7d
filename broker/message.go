package broker

import "github.com/mqttio/mqttio/broker/packet"

// Message is an application message as the broker routes it: owned (never
// aliasing a read buffer) and immutable once published, so one Message is
// shared by every subscriber it is delivered to.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool

	// Expiry is the absolute expiry time in Unix nanoseconds, 0 for never
	// (from the v5 Message Expiry Interval).
	Expiry int64

	// Properties forwarded unchanged to subscribers [MQTT-3.3.2-4..20]:
	// payload format, content type, response topic, correlation data and
	// user properties. Other fields of Props are unused.
	Props *packet.Properties

	// Origin is the client id of the publisher (for no-local) and the node
	// it was published on; empty for broker-generated messages.
	Origin     string
	OriginNode string
}
