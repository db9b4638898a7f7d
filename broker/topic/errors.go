package topic

import "errors"

// Validation errors. They are plain sentinel values so the broker can map
// them onto reason codes with errors.Is: on PUBLISH any of them means 0x90
// Topic Name invalid, on SUBSCRIBE/UNSUBSCRIBE 0x8F Topic Filter invalid
// (ErrBadShare may instead become 0x9E when shared subscriptions are off).
var (
	// ErrEmpty: topic names and filters are at least one character long
	// [MQTT-4.7.3-1].
	ErrEmpty = errors.New("topic: empty")
	// ErrTooLong: a UTF-8 encoded string is at most 65 535 bytes (§1.5.4).
	ErrTooLong = errors.New("topic: longer than 65535 bytes")
	// ErrInvalidUTF8: ill-formed UTF-8 (overlong forms, surrogates, stray
	// continuation bytes) [MQTT-1.5.4-1] or U+0000 [MQTT-1.5.4-2].
	ErrInvalidUTF8 = errors.New("topic: invalid UTF-8 or U+0000")
	// ErrWildcardInTopic: '+' or '#' in a topic name [MQTT-3.3.2-2]
	// [MQTT-4.7.1-1].
	ErrWildcardInTopic = errors.New("topic: wildcard in topic name")
	// ErrBadWildcard: '#' not alone in the last level [MQTT-4.7.1-2], or '+'
	// not alone in its level [MQTT-4.7.1-3].
	ErrBadWildcard = errors.New("topic: misplaced wildcard in filter")
	// ErrTooManyLevels: more levels than the broker's configured limit.
	ErrTooManyLevels = errors.New("topic: too many levels")
	// ErrBadShare: a "$share/" filter without a non-empty group name free of
	// '+', '#' and '/', or without a filter after it [MQTT-4.8.2-1]
	// [MQTT-4.8.2-2].
	ErrBadShare = errors.New("topic: malformed shared subscription filter")
)
