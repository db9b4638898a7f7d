package packet

// reasonSet is a set of reason codes, one bit per code.
type reasonSet [4]uint64

func newReasonSet(codes ...ReasonCode) reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each MQTT 5 packet may carry [MQTT-2.4] and the tables in
// the sections of each packet. A decoded code outside its packet's set is
// rejected with ProtocolError: the packet parsed, but its content is not
// one the protocol allows.
var (
	connackReasons = newReasonSet(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
		BadUserNameOrPassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
		BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		ConnectionRateExceeded) // [MQTT-3.2.2.2]
	pubackReasons = newReasonSet(Success, NoMatchingSubscribers, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicNameInvalid, PacketIdentifierInUse,
		QuotaExceeded, PayloadFormatInvalid) // PUBACK [MQTT-3.4.2.1] and PUBREC [MQTT-3.5.2.1]
	pubrelReasons = newReasonSet(Success, PacketIdentifierNotFound) // PUBREL [MQTT-3.6.2.1] and PUBCOMP [MQTT-3.7.2.1]
	subackReasons = newReasonSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse,
		QuotaExceeded, SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported) // [MQTT-3.9.3]
	subackV3Codes   = newReasonSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError) // [MQTT-3.9.3-2]
	unsubackReasons = newReasonSet(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse) // [MQTT-3.11.3]
	disconnectReasons = newReasonSet(NormalDisconnection, DisconnectWithWill, UnspecifiedError,
		MalformedPacket, ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy,
		ServerShuttingDown, KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
		ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded,
		AdministrativeAction, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported,
		UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported, ConnectionRateExceeded,
		MaximumConnectTime, SubscriptionIdentifiersNotSupported,
		WildcardSubscriptionsNotSupported) // [MQTT-3.14.2.1]
	authReasons = newReasonSet(Success, ContinueAuthentication, ReAuthenticate) // [MQTT-3.15.2.1]
)

// ackReasons is the reason set of an acknowledgement type.
func ackReasons(t Type) *reasonSet {
	switch t {
	case PUBACK, PUBREC:
		return &pubackReasons
	case UNSUBACK:
		return &unsubackReasons
	default:
		return &pubrelReasons
	}
}
