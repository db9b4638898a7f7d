// Package packet is the MQTT 3.1, 3.1.1 and 5.0 codec.
//
// Decoding is zero-copy: every []byte field of a decoded packet aliases the
// buffer it was decoded from, so a caller that keeps a field beyond the
// lifetime of that buffer must copy it. Encoding appends to a caller-supplied
// slice so that the publish path can reuse buffers and never allocate.
//
// Errors are values of type ReasonCode, so that a protocol violation found by
// the decoder maps directly onto the reason code of the DISCONNECT (v5) or
// CONNACK that the broker sends before closing the connection.
package packet

// Type is the MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types [MQTT-2.1.2].
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [16]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

func (t Type) String() string { return typeNames[t&0x0f] }

// Version is the protocol level carried in CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   Version = 5 // MQTT 5.0, protocol name "MQTT"
)

// MaxRemainingLength is the largest value the variable byte integer of the
// fixed header can encode [MQTT-1.5.5].
const MaxRemainingLength = 268435455

// Subscription options bits and masks [MQTT-3.8.3.1].
const (
	SubQoSMask           = 0x03
	SubNoLocal           = 0x04
	SubRetainAsPublished = 0x08
	SubRetainHandlingMsk = 0x30
)

// UserProperty is one MQTT 5 user property (a UTF-8 string pair).
type UserProperty struct {
	Key, Value []byte
}

// Property presence bits for Properties.Has. Scalar properties are only
// meaningful when their bit is set; byte-slice properties are present when
// non-nil.
const (
	HasPayloadFormat uint32 = 1 << iota
	HasMessageExpiry
	HasSessionExpiry
	HasServerKeepAlive
	HasRequestProblemInfo
	HasWillDelay
	HasRequestResponseInfo
	HasReceiveMaximum
	HasTopicAliasMaximum
	HasTopicAlias
	HasMaximumQoS
	HasRetainAvailable
	HasMaximumPacketSize
	HasWildcardSubAvailable
	HasSubIDAvailable
	HasSharedSubAvailable
)

// Property identifiers [MQTT-2.2.2.2].
const (
	PropPayloadFormat        = 0x01
	PropMessageExpiry        = 0x02
	PropContentType          = 0x03
	PropResponseTopic        = 0x08
	PropCorrelationData      = 0x09
	PropSubscriptionID       = 0x0B
	PropSessionExpiry        = 0x11
	PropAssignedClientID     = 0x12
	PropServerKeepAlive      = 0x13
	PropAuthMethod           = 0x15
	PropAuthData             = 0x16
	PropRequestProblemInfo   = 0x17
	PropWillDelay            = 0x18
	PropRequestResponseInfo  = 0x19
	PropResponseInfo         = 0x1A
	PropServerReference      = 0x1C
	PropReasonString         = 0x1F
	PropReceiveMaximum       = 0x21
	PropTopicAliasMaximum    = 0x22
	PropTopicAlias           = 0x23
	PropMaximumQoS           = 0x24
	PropRetainAvailable      = 0x25
	PropUserProperty         = 0x26
	PropMaximumPacketSize    = 0x27
	PropWildcardSubAvailable = 0x28
	PropSubIDAvailable       = 0x29
	PropSharedSubAvailable   = 0x2A
)

// Properties holds every MQTT 5 property. One struct for all packet types
// keeps decoding allocation-free; the decoder rejects a property that is not
// allowed in the packet being decoded, or repeated where it may appear only
// once (MalformedPacket), and a value the spec forbids, such as a Receive
// Maximum of 0 (ProtocolError). Encoders write only the properties allowed
// in the packet being encoded, in ascending identifier order.
type Properties struct {
	Has uint32 // presence bits for scalar properties (Has* constants)

	PayloadFormat       byte
	MessageExpiry       uint32
	SessionExpiry       uint32
	ServerKeepAlive     uint16
	RequestProblemInfo  byte
	WillDelay           uint32
	RequestResponseInfo byte
	ReceiveMaximum      uint16
	TopicAliasMaximum   uint16
	TopicAlias          uint16
	MaximumQoS          byte
	RetainAvailable     byte
	MaximumPacketSize   uint32
	WildcardSubAvail    byte
	SubIDAvailable      byte
	SharedSubAvailable  byte

	ContentType      []byte
	ResponseTopic    []byte
	CorrelationData  []byte
	AssignedClientID []byte
	AuthMethod       []byte
	AuthData         []byte
	ResponseInfo     []byte
	ServerReference  []byte
	ReasonString     []byte

	// SubscriptionIDs: one in SUBSCRIBE, any number in PUBLISH.
	SubscriptionIDs []uint32
	UserProperties  []UserProperty
}

// Reset clears p for reuse while keeping the capacity of its slices.
func (p *Properties) Reset() {
	ids, ups := p.SubscriptionIDs[:0], p.UserProperties[:0]
	*p = Properties{SubscriptionIDs: ids, UserProperties: ups}
}

// Connect is the CONNECT packet.
type Connect struct {
	ProtocolName []byte // "MQTT" or "MQIsdp"
	Version      Version
	CleanStart   bool
	KeepAlive    uint16
	ClientID     []byte
	Username     []byte // nil when the flag is clear
	Password     []byte // nil when the flag is clear
	HasUsername  bool
	HasPassword  bool
	Properties   Properties

	WillFlag       bool
	WillQoS        byte
	WillRetain     bool
	WillTopic      []byte
	WillPayload    []byte
	WillProperties Properties
}

// Connack is the CONNACK packet. On v3 ReasonCode carries the return code
// (0-5), on v5 a reason code. AppendConnack on v3 also takes a v5 reason
// code and maps it with ReasonCode.V3ConnackCode, so the broker can use
// the same names for every version.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties
}

// Publish is the PUBLISH packet.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      []byte
	PacketID   uint16 // only when QoS > 0
	Properties Properties
	Payload    []byte
}

// Ack is PUBACK, PUBREC, PUBREL, PUBCOMP (and UNSUBACK on v3, which has no
// payload). ReasonCode is Success on v3.
type Ack struct {
	Type       Type
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            []byte
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte // 0, 1 or 2
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    Properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet: one reason code (v3: return code) per filter.
type Suback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties
	Filters    [][]byte
}

// Unsuback is the UNSUBACK packet; ReasonCodes is empty on v3.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

// Disconnect is the DISCONNECT packet (reason and properties on v5 only).
type Disconnect struct {
	ReasonCode ReasonCode
	Properties Properties
}

// Auth is the v5 AUTH packet.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}
