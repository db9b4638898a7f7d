package topic

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic name or filter: the length prefix of an MQTT
// UTF-8 string is two bytes (§1.5.4).
const MaxLen = 65535

// SharePrefix starts a shared subscription filter [MQTT-4.8.2-1]. The broker
// treats it as shared on every protocol version, as most brokers do.
const SharePrefix = "$share/"

// ValidateTopicName checks the topic name of a PUBLISH (or a will). It
// accepts the control characters and non-characters that the spec only says
// SHOULD NOT appear, since a receiver MAY but need not reject them
// (§1.5.4). maxLevels <= 0 means no limit on the number of levels.
func ValidateTopicName(name []byte, maxLevels int) error {
	if len(name) == 0 {
		return ErrEmpty // [MQTT-4.7.3-1]
	}
	if len(name) > MaxLen {
		return ErrTooLong
	}
	levels := 1
	for i := 0; i < len(name); {
		c := name[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(name[i:])
			if r == utf8.RuneError && size == 1 {
				return ErrInvalidUTF8 // [MQTT-1.5.4-1]
			}
			i += size
			continue
		}
		switch c {
		case 0:
			return ErrInvalidUTF8 // [MQTT-1.5.4-2]
		case '+', '#':
			return ErrWildcardInTopic // [MQTT-3.3.2-2] [MQTT-4.7.1-1]
		case '/':
			levels++
		}
		i++
	}
	if maxLevels > 0 && levels > maxLevels {
		return ErrTooManyLevels
	}
	return nil
}

// ValidateFilter checks a SUBSCRIBE or UNSUBSCRIBE topic filter, shared
// ("$share/{group}/{filter}") or not. For a shared filter, maxLevels applies
// to the filter after the group.
func ValidateFilter(filter []byte, maxLevels int) error {
	if len(filter) == 0 {
		return ErrEmpty // [MQTT-4.7.3-1]
	}
	if len(filter) > MaxLen {
		return ErrTooLong
	}
	if err := checkUTF8(filter); err != nil {
		return err
	}
	if bytes.HasPrefix(filter, []byte(SharePrefix)) {
		rest := filter[len(SharePrefix):]
		i := bytes.IndexByte(rest, '/')
		if i < 0 {
			return ErrBadShare // the group "MUST be followed by a '/'" [MQTT-4.8.2-2]
		}
		group := rest[:i]
		if len(group) == 0 {
			return ErrBadShare // [MQTT-4.8.2-1]
		}
		if bytes.ContainsAny(group, "+#") {
			return ErrBadShare // [MQTT-4.8.2-2]
		}
		filter = rest[i+1:]
		if len(filter) == 0 {
			return ErrBadShare // "This '/' character MUST be followed by a Topic Filter" [MQTT-4.8.2-2]
		}
	}
	levels := 1
	start := 0 // index of the first byte of the current level
	for i, c := range filter {
		// Bytes of multi-byte UTF-8 sequences are all >= 0x80, so a byte
		// scan cannot mistake them for '/', '+' or '#'.
		switch c {
		case '/':
			levels++
			start = i + 1
		case '+':
			if i != start || (i+1 < len(filter) && filter[i+1] != '/') {
				return ErrBadWildcard // [MQTT-4.7.1-3]
			}
		case '#':
			if i != start || i != len(filter)-1 {
				return ErrBadWildcard // [MQTT-4.7.1-2]
			}
		}
	}
	if maxLevels > 0 && levels > maxLevels {
		return ErrTooManyLevels
	}
	return nil
}

// checkUTF8 reports ErrInvalidUTF8 for ill-formed UTF-8 [MQTT-1.5.4-1] or
// U+0000 [MQTT-1.5.4-2]. Go's decoder already rejects overlong forms and
// UTF-16 surrogates, which MQTT forbids.
func checkUTF8(b []byte) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return ErrInvalidUTF8
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return ErrInvalidUTF8
		}
		i += size
	}
	return nil
}

// ParseShared splits a validated filter "$share/{group}/{filter}" into its
// group and real filter. For any other filter it returns ("", filter,
// false). The results share memory with filter.
func ParseShared(filter string) (group, realFilter string, shared bool) {
	rest, ok := strings.CutPrefix(filter, SharePrefix)
	if !ok {
		return "", filter, false
	}
	group, realFilter, ok = strings.Cut(rest, "/")
	if !ok {
		return "", filter, false
	}
	return group, realFilter, true
}
