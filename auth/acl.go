package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/topic"
)

// The ACL file (docs/operations.md has the user's guide):
//
//	# comment
//	topic read $SYS/#              before any section: anonymous clients
//	user alice                     section: clients authenticated as alice
//	topic readwrite alice/#
//	topic deny alice/private/#
//	client sensor-1                section: the client id sensor-1, any user
//	topic write sensors/1/#
//	anonymous                      section: clients without a username
//	default                        section: every client
//	topic read public/#
//	pattern readwrite users/%u/#   every client, wherever it appears
//	pattern write devices/%c/state
//
// A rule is "topic|pattern [ACCESS] FILTER" with ACCESS one of read,
// write, readwrite (the default), subscribe, deny, or deny followed by
// read, write, subscribe or readwrite. read allows receiving messages on
// matching topics and subscribing to filters the rule's filter covers;
// subscribe allows only the subscription; write allows publishing. deny
// takes the named rights (all of them without a name) away and overrides
// every allow. Anything not allowed is denied.

// rights is a set of access rights.
type rights uint8

const (
	rightRead rights = 1 << iota
	rightWrite
	rightSubscribe

	rightAll = rightRead | rightWrite | rightSubscribe
)

func (r rights) String() string {
	var s []string
	for _, x := range []struct {
		r    rights
		name string
	}{{rightRead, "read"}, {rightWrite, "write"}, {rightSubscribe, "subscribe"}} {
		if r&x.r != 0 {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, "+")
}

var accessWords = map[string]rights{
	"read":      rightRead,
	"write":     rightWrite,
	"readwrite": rightRead | rightWrite,
	"subscribe": rightSubscribe,
}

// ACL is an immutable, compiled ACL file. Each kind of client is checked
// against one precompiled trie (two when client sections exist): the
// rules of its user (or the anonymous section), the default section and
// the patterns are merged at load time, so a check costs one map lookup
// and one walk of the topic's levels.
type ACL struct {
	common  *aclNode            // default section and patterns
	anon    *aclNode            // anonymous section, default and patterns
	users   map[string]*aclNode // each user section, with default and patterns
	clients map[string]*aclNode // client sections, on their own
	rules   int
}

// Rules returns the number of rules.
func (a *ACL) Rules() int { return a.rules }

// aclNode is one level of a rule trie. Rules ending at a node give it
// their rights.
type aclNode struct {
	children    map[string]*aclNode
	plus, hash  *aclNode
	user, cli   *aclNode   // a level that is exactly %u / %c
	templates   []template // levels mixing text with %u / %c
	allow, deny rights
}

// template is a rule level like "%u-data": literal text and placeholders.
type template struct {
	parts []string // literal text, "%u" or "%c"
	node  *aclNode
}

// rule is one parsed ACL line.
type rule struct {
	filter  string
	allow   rights
	deny    rights
	pattern bool
	line    int
}

// LoadACL reads and compiles an ACL file. Errors name the line; a file
// that does not parse is refused as a whole.
func LoadACL(path string) (*ACL, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseACL(path, data)
}

// ParseACL compiles the text of an ACL file; name is used in errors.
func ParseACL(name string, data []byte) (*ACL, error) {
	type section struct {
		kind string // "anonymous", "default", "user", "client"
		name string
	}
	var (
		cur      = section{kind: "anonymous"} // mosquitto: rules before any section
		patterns []rule
		defaults []rule
		anon     []rule
		users    = map[string][]rule{}
		clients  = map[string][]rule{}
		count    int
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s line %d: %s", name, n, fmt.Sprintf(format, args...))
		}
		switch kw {
		case "user", "client":
			if rest == "" {
				return nil, fail("%s needs a name", kw)
			}
			cur = section{kind: kw, name: rest}
			// A section with no rules still exists: its clients get
			// the default section and patterns only.
			m := users
			if kw == "client" {
				m = clients
			}
			if _, ok := m[rest]; !ok {
				m[rest] = nil
			}
		case "anonymous", "default":
			if rest != "" {
				return nil, fail("%s takes no argument", kw)
			}
			cur = section{kind: kw}
		case "topic", "pattern":
			r, err := parseRule(rest)
			if err != nil {
				return nil, fail("%v", err)
			}
			r.pattern, r.line = kw == "pattern", n
			if !r.pattern && strings.Contains(r.filter, "%") && (strings.Contains(r.filter, "%u") || strings.Contains(r.filter, "%c")) {
				return nil, fail("%%u and %%c are substituted in pattern lines only; use pattern instead of topic")
			}
			count++
			switch {
			case r.pattern:
				patterns = append(patterns, r)
			case cur.kind == "user":
				users[cur.name] = append(users[cur.name], r)
			case cur.kind == "client":
				clients[cur.name] = append(clients[cur.name], r)
			case cur.kind == "default":
				defaults = append(defaults, r)
			default:
				anon = append(anon, r)
			}
		default:
			return nil, fail("unknown keyword %q (want topic, pattern, user, client, anonymous or default)", kw)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	common := append(append([]rule(nil), defaults...), patterns...)
	a := &ACL{
		common:  build(common),
		anon:    build(append(append([]rule(nil), anon...), common...)),
		users:   make(map[string]*aclNode, len(users)),
		clients: make(map[string]*aclNode, len(clients)),
		rules:   count,
	}
	for u, rs := range users {
		a.users[u] = build(append(append([]rule(nil), rs...), common...))
	}
	for c, rs := range clients {
		a.clients[c] = build(rs)
	}
	return a, nil
}

// parseRule reads "[ACCESS] FILTER" (mosquitto: no ACCESS is readwrite).
func parseRule(s string) (rule, error) {
	if s == "" {
		return rule{}, errors.New("missing topic filter")
	}
	r := rule{allow: rightRead | rightWrite}
	word, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	if rest != "" {
		if word == "deny" {
			r.allow, r.deny = 0, rightAll
			if w2, r2, _ := strings.Cut(rest, " "); strings.TrimSpace(r2) != "" {
				if x, ok := accessWords[w2]; ok {
					r.deny, rest = x, strings.TrimSpace(r2)
				}
			}
		} else if x, ok := accessWords[word]; ok {
			r.allow = x
		} else {
			return rule{}, fmt.Errorf("unknown access %q (want read, write, readwrite, subscribe or deny)", word)
		}
		s = rest
	}
	if strings.HasPrefix(s, topic.SharePrefix) {
		return rule{}, fmt.Errorf("%q: rules take plain filters; a shared subscription is checked by its filter", s)
	}
	if err := topic.ValidateFilter([]byte(s), 0); err != nil {
		return rule{}, fmt.Errorf("%q: invalid topic filter: %v", s, err)
	}
	r.filter = s
	return r, nil
}

func build(rules []rule) *aclNode {
	root := &aclNode{}
	for _, r := range rules {
		n := root
		for level := range strings.SplitSeq(r.filter, "/") {
			n = n.child(level, r.pattern)
		}
		n.allow |= r.allow
		n.deny |= r.deny
	}
	return root
}

func (n *aclNode) child(level string, pattern bool) *aclNode {
	get := func(p **aclNode) *aclNode {
		if *p == nil {
			*p = &aclNode{}
		}
		return *p
	}
	switch {
	case level == "+":
		return get(&n.plus)
	case level == "#":
		return get(&n.hash)
	case pattern && level == "%u":
		return get(&n.user)
	case pattern && level == "%c":
		return get(&n.cli)
	case pattern && (strings.Contains(level, "%u") || strings.Contains(level, "%c")):
		parts := splitTemplate(level)
		for _, t := range n.templates {
			if equalParts(t.parts, parts) {
				return t.node
			}
		}
		t := template{parts: parts, node: &aclNode{}}
		n.templates = append(n.templates, t)
		return t.node
	}
	if n.children == nil {
		n.children = make(map[string]*aclNode)
	}
	c := n.children[level]
	if c == nil {
		c = &aclNode{}
		n.children[level] = c
	}
	return c
}

func splitTemplate(level string) []string {
	var parts []string
	lit := 0
	for i := 0; i+1 < len(level); i++ {
		if level[i] == '%' && (level[i+1] == 'u' || level[i+1] == 'c') {
			if i > lit {
				parts = append(parts, level[lit:i])
			}
			parts = append(parts, level[i:i+2])
			i++
			lit = i + 1
		}
	}
	if lit < len(level) {
		parts = append(parts, level[lit:])
	}
	return parts
}

func equalParts(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ident is what %u and %c stand for. A value that is empty or holds '/',
// '+' or '#' could not stand for one literal level: pattern rules through
// it grant nothing, and their deny rules apply as if it were '+' (to every
// value), so such an identity never gains and only loses rights.
type ident struct {
	user, client     string
	userOK, clientOK bool // usable as a literal level
	noUser           bool // anonymous: %u rules do not apply at all
}

func newIdent(user, client string) ident {
	return ident{
		user: user, client: client,
		userOK:   user != "" && !strings.ContainsAny(user, "/+#"),
		clientOK: client != "" && !strings.ContainsAny(client, "/+#"),
		noUser:   user == "",
	}
}

// template match: 1 matches, 0 does not, -1 the identity is unusable
// (treat the level as a wildcard for deny rules only).
func (t *template) match(level string, id *ident) int {
	for _, p := range t.parts {
		var v string
		switch p {
		case "%u":
			if id.noUser {
				return 0
			}
			if !id.userOK {
				return -1
			}
			v = id.user
		case "%c":
			if !id.clientOK {
				return -1
			}
			v = id.client
		default:
			v = p
		}
		if !strings.HasPrefix(level, v) {
			return 0
		}
		level = level[len(v):]
	}
	if level != "" {
		return 0
	}
	return 1
}

// verdict accumulates the rights of the matching rules.
type verdict struct{ allow, deny rights }

func (v *verdict) add(n *aclNode, tainted bool) {
	v.deny |= n.deny
	if !tainted {
		v.allow |= n.allow
	}
}

// matchName collects the rules matching a topic name (publish, receive).
// rest holds the levels not yet consumed; first is set at the first level.
func (n *aclNode) matchName(rest string, first bool, id *ident, tainted bool, v *verdict) {
	level, more, hasMore := cut(rest)
	// [MQTT-4.7.2-1]: a wildcard first level does not match a '$' topic.
	wild := !(first && strings.HasPrefix(level, "$"))
	if wild {
		if n.hash != nil {
			v.add(n.hash, tainted)
		}
		if n.plus != nil {
			n.plus.nextName(more, hasMore, id, tainted, v)
		}
	}
	if c := n.children[level]; c != nil {
		c.nextName(more, hasMore, id, tainted, v)
	}
	if n.user != nil && !id.noUser {
		if !id.userOK {
			n.user.nextName(more, hasMore, id, true, v)
		} else if level == id.user {
			n.user.nextName(more, hasMore, id, tainted, v)
		}
	}
	if n.cli != nil {
		if !id.clientOK {
			n.cli.nextName(more, hasMore, id, true, v)
		} else if level == id.client {
			n.cli.nextName(more, hasMore, id, tainted, v)
		}
	}
	for i := range n.templates {
		t := &n.templates[i]
		switch t.match(level, id) {
		case 1:
			t.node.nextName(more, hasMore, id, tainted, v)
		case -1:
			t.node.nextName(more, hasMore, id, true, v)
		}
	}
}

func (n *aclNode) nextName(rest string, hasMore bool, id *ident, tainted bool, v *verdict) {
	if !hasMore {
		v.add(n, tainted)
		if n.hash != nil {
			v.add(n.hash, tainted) // "a/#" matches "a" [MQTT-4.7.1-2]
		}
		return
	}
	n.matchName(rest, false, id, tainted, v)
}

// coverFilter collects the rules whose filter covers a subscription
// filter: matches every topic name the subscription can match.
func (n *aclNode) coverFilter(rest string, first bool, id *ident, tainted bool, v *verdict) {
	level, more, hasMore := cut(rest)
	// A subscription to "$x/..." is covered by a first-level wildcard rule
	// no more than "$x/..." topics are matched by it.
	wild := !(first && strings.HasPrefix(level, "$"))
	if wild && n.hash != nil {
		v.add(n.hash, tainted) // "#" covers whatever is left, "#" included
	}
	if level == "#" {
		return // only a '#' rule covers a '#' subscription
	}
	if wild && n.plus != nil {
		n.plus.nextCover(more, hasMore, id, tainted, v) // '+' covers one level, '+' included
	}
	if level == "+" {
		return // a '+' subscription level is covered by wildcard rules only
	}
	if c := n.children[level]; c != nil {
		c.nextCover(more, hasMore, id, tainted, v)
	}
	if n.user != nil && !id.noUser {
		if !id.userOK {
			n.user.nextCover(more, hasMore, id, true, v)
		} else if level == id.user {
			n.user.nextCover(more, hasMore, id, tainted, v)
		}
	}
	if n.cli != nil {
		if !id.clientOK {
			n.cli.nextCover(more, hasMore, id, true, v)
		} else if level == id.client {
			n.cli.nextCover(more, hasMore, id, tainted, v)
		}
	}
	for i := range n.templates {
		t := &n.templates[i]
		switch t.match(level, id) {
		case 1:
			t.node.nextCover(more, hasMore, id, tainted, v)
		case -1:
			t.node.nextCover(more, hasMore, id, true, v)
		}
	}
}

func (n *aclNode) nextCover(rest string, hasMore bool, id *ident, tainted bool, v *verdict) {
	if !hasMore {
		v.add(n, tainted)
		if n.hash != nil {
			v.add(n.hash, tainted)
		}
		return
	}
	n.coverFilter(rest, false, id, tainted, v)
}

// cut splits off the first level.
func cut(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// Allowed decides one check for a client with username user ("" for
// anonymous) and client identifier clientID.
func (a *ACL) Allowed(user, clientID string, act broker.Action, name string) bool {
	root := a.common
	if user == "" {
		root = a.anon
	} else if u, ok := a.users[user]; ok {
		root = u
	}
	id := newIdent(user, clientID)
	var v verdict
	var need rights
	switch act {
	case broker.ActionPublish:
		need = rightWrite
		root.matchName(name, true, &id, false, &v)
	case broker.ActionReceive:
		need = rightRead
		root.matchName(name, true, &id, false, &v)
	case broker.ActionSubscribe:
		need = rightRead | rightSubscribe
		if _, f, ok := topic.ParseShared(name); ok {
			name = f
		}
		root.coverFilter(name, true, &id, false, &v)
	default:
		return false
	}
	if len(a.clients) > 0 {
		if c, ok := a.clients[clientID]; ok {
			switch act {
			case broker.ActionSubscribe:
				c.coverFilter(name, true, &id, false, &v)
			default:
				c.matchName(name, true, &id, false, &v)
			}
		}
	}
	return v.allow&need != 0 && v.deny&need == 0
}
