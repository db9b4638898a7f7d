package topic

import "strings"

// Match reports whether a plain (not "$share/") filter matches a topic name.
// Both are expected to be valid; on invalid input it returns some answer and
// never panics. It allocates nothing. ACLs and tests use it; the broker's
// publish path uses Trie.Match, which must agree with it.
func Match(filter, topic string) bool {
	// [MQTT-4.7.2-1]: a wildcard first level does not match a '$' topic.
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true // this level and all below [MQTT-4.7.1-2]
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// Topic used up: only a trailing "#" is left to match the
			// parent level ("sport/tennis/#" matches "sport/tennis").
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
