package topic

import "testing"

// matchCases are the examples of MQTT 5.0 §4.7 plus edge cases. Every
// matcher in the package (Match, Trie.Match, Retained.Match) is checked
// against them.
var matchCases = []struct {
	filter, topic string
	want          bool
}{
	// §4.7.1.2 multi-level wildcard.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/tennis/player1/#", "sport/tennis", false},
	{"sport/#", "sport", true}, // parent level [MQTT-4.7.1-2]
	{"#", "sport", true},
	{"#", "/", true},
	{"#", "a/b/c", true},
	// §4.7.1.3 single-level wildcard.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+", "sport", true},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/tennis/x/y", true},
	{"sport/+/player1", "sport/tennis/player1", true},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+/#", "a", true},
	{"+/+", "a", false},
	{"+/+/#", "a/b", true},
	// §4.7.2 topics beginning with $ [MQTT-4.7.2-1].
	{"#", "$SYS/monitor/Clients", false},
	{"#", "$SYS", false},
	{"+", "$SYS", false},
	{"+/#", "$SYS/x", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/+/Clients", "$SYS/monitor/Clients", true},
	{"a/+", "a/$b", true}, // the rule is for the first level only
	{"a/#", "a/$b/c", true},
	{"+/$b", "a/$b", true},
	// Exact and near misses.
	{"a/b", "a/b", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a/b", "a/c", false},
	{"a", "A", false},
	{"/", "/", true},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"a/#", "a/", true},
	{"a/+", "a/", true},
	{"a/+/#", "a", false},
	{"\u00e9/+", "\u00e9/x", true},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		if got := Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestMatchNoAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		Match("sport/+/player1/#", "sport/tennis/player1/score")
	}); n != 0 {
		t.Fatalf("Match allocates %v times, want 0", n)
	}
}
