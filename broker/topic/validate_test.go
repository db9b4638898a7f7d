package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name      string
		topic     string
		maxLevels int
		want      error
	}{
		{"simple", "a/b/c", 0, nil},
		{"one level", "sport", 0, nil},
		{"leading slash", "/finance", 0, nil},
		{"only slash", "/", 0, nil},
		{"empty levels", "a//b", 0, nil},
		{"space", "a b/c", 0, nil},
		{"dollar", "$SYS/broker/uptime", 0, nil},
		{"2-byte utf8", "caf\u00e9/\u00fc", 0, nil},
		{"3-byte utf8", "\u20ac/\u65e5\u672c", 0, nil},
		{"4-byte utf8", "\U0001F600/x", 0, nil},
		{"encoded U+FFFD is valid", "\uFFFD", 0, nil},
		{"U+FEFF kept [MQTT-1.5.4-3]", "\uFEFFa", 0, nil},
		{"control char allowed (SHOULD NOT only)", "a\x01b", 0, nil},
		{"max length", strings.Repeat("a", MaxLen), 0, nil},
		{"levels at limit", "a/b/c", 3, nil},

		{"empty [MQTT-4.7.3-1]", "", 0, ErrEmpty},
		{"too long", strings.Repeat("a", MaxLen+1), 0, ErrTooLong},
		{"U+0000 [MQTT-1.5.4-2]", "a\x00b", 0, ErrInvalidUTF8},
		{"lone continuation byte", "a\x80", 0, ErrInvalidUTF8},
		{"truncated 2-byte", "a\xc3", 0, ErrInvalidUTF8},
		{"truncated 3-byte", "\xe2\x82", 0, ErrInvalidUTF8},
		{"overlong '/' (C0 AF)", "a\xc0\xafb", 0, ErrInvalidUTF8},
		{"overlong NUL (C0 80)", "a\xc0\x80", 0, ErrInvalidUTF8},
		{"overlong 3-byte (E0 80 AF)", "\xe0\x80\xaf", 0, ErrInvalidUTF8},
		{"surrogate U+D800 [MQTT-1.5.4-1]", "\xed\xa0\x80", 0, ErrInvalidUTF8},
		{"above U+10FFFF", "\xf4\x90\x80\x80", 0, ErrInvalidUTF8},
		{"0xFF byte", "\xff", 0, ErrInvalidUTF8},
		{"plus [MQTT-3.3.2-2]", "a/+/c", 0, ErrWildcardInTopic},
		{"hash [MQTT-4.7.1-1]", "a/#", 0, ErrWildcardInTopic},
		{"plus inside level", "a+b", 0, ErrWildcardInTopic},
		{"too many levels", "a/b/c/d", 3, ErrTooManyLevels},
		{"trailing slash counts a level", "a/b/c/", 3, ErrTooManyLevels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopicName([]byte(tc.topic), tc.maxLevels)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ValidateTopicName(%q) = %v, want %v", tc.topic, err, tc.want)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name      string
		filter    string
		maxLevels int
		want      error
	}{
		{"plain", "a/b/c", 0, nil},
		{"hash alone", "#", 0, nil},
		{"plus alone", "+", 0, nil},
		{"hash last", "sport/tennis/player1/#", 0, nil},
		{"hash after empty level", "/#", 0, nil},
		{"plus first", "+/tennis/#", 0, nil},
		{"plus middle", "sport/+/player1", 0, nil},
		{"plus plus", "+/+", 0, nil},
		{"slash plus", "/+", 0, nil},
		{"plus hash", "+/#", 0, nil},
		{"empty levels", "a//+//#", 0, nil},
		{"dollar", "$SYS/#", 0, nil},
		{"utf8", "\u00e9t\u00e9/+/\U0001F600", 0, nil},
		{"shared", "$share/g/a/+/c", 0, nil},
		{"shared hash", "$share/g/#", 0, nil},
		{"shared utf8 group", "$share/gr\u00fcn/x", 0, nil},
		{"shared empty first level", "$share/g//x", 0, nil},
		{"$share alone is a plain filter", "$share", 0, nil},
		{"$sharex is a plain filter", "$sharex/a", 0, nil},
		{"levels at limit", "a/+/#", 3, nil},
		{"shared levels counted after group", "$share/g/a/b", 2, nil},
		{"max length", strings.Repeat("a", MaxLen), 0, nil},

		{"empty [MQTT-4.7.3-1]", "", 0, ErrEmpty},
		{"too long", strings.Repeat("a", MaxLen+1), 0, ErrTooLong},
		{"U+0000 [MQTT-1.5.4-2]", "a/\x00", 0, ErrInvalidUTF8},
		{"overlong [MQTT-1.5.4-1]", "a/\xc0\xaf", 0, ErrInvalidUTF8},
		{"surrogate", "\xed\xbf\xbf/#", 0, ErrInvalidUTF8},
		{"invalid utf8 in group", "$share/\xff/a", 0, ErrInvalidUTF8},
		{"hash not last [MQTT-4.7.1-2]", "sport/tennis/#/ranking", 0, ErrBadWildcard},
		{"hash glued [MQTT-4.7.1-2]", "sport/tennis#", 0, ErrBadWildcard},
		{"hash hash", "#/#", 0, ErrBadWildcard},
		{"hash prefix", "#a", 0, ErrBadWildcard},
		{"plus glued [MQTT-4.7.1-3]", "sport+", 0, ErrBadWildcard},
		{"plus glued after", "+a/b", 0, ErrBadWildcard},
		{"plus inside", "a/b+c/d", 0, ErrBadWildcard},
		{"plus plus in level", "++", 0, ErrBadWildcard},
		{"shared bad wildcard", "$share/g/a#", 0, ErrBadWildcard},
		{"shared no slash [MQTT-4.8.2-2]", "$share/g", 0, ErrBadShare},
		{"shared no filter [MQTT-4.8.2-2]", "$share/g/", 0, ErrBadShare},
		{"shared empty group [MQTT-4.8.2-1]", "$share//a", 0, ErrBadShare},
		{"shared prefix only", "$share/", 0, ErrBadShare},
		{"shared group plus [MQTT-4.8.2-2]", "$share/g+/a", 0, ErrBadShare},
		{"shared group hash", "$share/#/a", 0, ErrBadShare},
		{"shared group is plus", "$share/+/a", 0, ErrBadShare},
		{"too many levels", "a/b/c/#", 3, ErrTooManyLevels},
		{"shared too many levels", "$share/g/a/b/c", 2, ErrTooManyLevels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateFilter([]byte(tc.filter), tc.maxLevels)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ValidateFilter(%q) = %v, want %v", tc.filter, err, tc.want)
			}
		})
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in, group, filter string
		shared            bool
	}{
		{"a/b", "", "a/b", false},
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/#", "g", "#", true},
		{"$share/g//x", "g", "/x", true},
		{"$share", "", "$share", false},
		{"$sharex/a/b", "", "$sharex/a/b", false},
		{"$SYS/#", "", "$SYS/#", false},
	}
	for _, tc := range tests {
		g, f, ok := ParseShared(tc.in)
		if g != tc.group || f != tc.filter || ok != tc.shared {
			t.Errorf("ParseShared(%q) = %q, %q, %v; want %q, %q, %v", tc.in, g, f, ok, tc.group, tc.filter, tc.shared)
		}
	}
}

func TestValidateAllocs(t *testing.T) {
	name := []byte("sensors/\u00e9t\u00e9/room1/temperature")
	filter := []byte("$share/g/sensors/+/room1/#")
	if n := testing.AllocsPerRun(100, func() {
		_ = ValidateTopicName(name, 0)
		_ = ValidateFilter(filter, 0)
		_, _, _ = ParseShared("$share/g/a")
	}); n != 0 {
		t.Fatalf("validation allocates %v times, want 0", n)
	}
}
