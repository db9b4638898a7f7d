package auth

import (
	"strings"
	"testing"

	"github.com/mqttio/mqttio/broker"
)

const testACL = `
# before any section: anonymous clients (mosquitto)
topic read public/#
topic read $SYS/broker/uptime

user alice
topic readwrite alice/#
topic deny alice/private/#
topic deny write alice/readonly/#
topic read #
topic deny secret/#

user bob
topic write sensors/+/temp
topic subscribe feeds/#
topic read feeds/news/#

user noRules

client sensor-1
topic write sensors/1/raw

default
topic read announcements

# every client, wherever they appear
pattern readwrite users/%u/#
pattern write devices/%c/state
pattern read inbox/%u-%c
pattern deny users/%u/locked
`

func TestACLTable(t *testing.T) {
	acl, err := ParseACL("test.acl", []byte(testACL))
	if err != nil {
		t.Fatal(err)
	}
	if acl.Rules() != 16 {
		t.Fatalf("Rules() = %d", acl.Rules())
	}
	const (
		pub  = broker.ActionPublish
		sub  = broker.ActionSubscribe
		recv = broker.ActionReceive
	)
	cases := []struct {
		user, client string
		act          broker.Action
		topic        string
		want         bool
	}{
		// anonymous section
		{"", "anon", recv, "public/a", true},
		{"", "anon", sub, "public/#", true},
		{"", "anon", sub, "public/+/x", true},
		{"", "anon", pub, "public/a", false},
		{"", "anon", sub, "#", false}, // public/# does not cover #
		{"", "anon", recv, "$SYS/broker/uptime", true},
		{"", "anon", recv, "$SYS/broker/load", false},
		{"", "anon", recv, "announcements", true}, // default section
		{"", "anon", recv, "alice/x", false},
		{"", "anon", pub, "devices/anon/state", true}, // %c pattern
		{"", "anon", pub, "users//x", false},          // %u never applies to anonymous
		// alice
		{"alice", "a1", pub, "alice/x", true},
		{"alice", "a1", recv, "alice/x/y", true},
		{"alice", "a1", sub, "alice/#", true},
		{"alice", "a1", pub, "alice/private/x", false}, // deny overrides
		{"alice", "a1", recv, "alice/private/x", false},
		{"alice", "a1", sub, "alice/private/#", false},
		{"alice", "a1", sub, "alice/private", false}, // alice/private/# matches its parent level too
		{"alice", "a1", recv, "alice/readonly/x", true},
		{"alice", "a1", pub, "alice/readonly/x", false}, // deny write only
		{"alice", "a1", sub, "#", true},                 // read # covers #; deny secret/# does not cover #
		{"alice", "a1", recv, "secret/plans", false},    // ... but delivery is denied
		{"alice", "a1", recv, "secret", false},          // secret/# matches its parent level
		{"alice", "a1", sub, "secret/#", false},         // covered by the deny
		{"alice", "a1", sub, "secret/+/x", false},
		{"alice", "a1", recv, "$SYS/broker/uptime", false}, // # does not match $ topics; anonymous rules are not hers
		{"alice", "a1", sub, "$SYS/#", false},
		{"alice", "a1", recv, "public/a", true}, // via read #
		{"alice", "a1", recv, "announcements", true},
		{"alice", "a1", pub, "users/alice/x", true}, // %u
		{"alice", "a1", pub, "users/alice/locked", false},
		{"alice", "a1", pub, "users/bob/x", false},
		{"alice", "a1", pub, "devices/a1/state", true}, // %c
		{"alice", "a1", pub, "devices/a2/state", false},
		{"alice", "a1", recv, "inbox/alice-a1", true}, // template level
		{"alice", "a1", sub, "inbox/alice-a1", true},
		{"alice", "a1", recv, "inbox/alice-a2", true}, // via read #
		{"alice", "a1", pub, "inbox/alice-a1", false},
		// bob
		{"bob", "b1", pub, "sensors/3/temp", true},
		{"bob", "b1", pub, "sensors/3/hum", false},
		{"bob", "b1", recv, "sensors/3/temp", false},
		{"bob", "b1", sub, "feeds/#", true}, // subscribe right
		{"bob", "b1", recv, "feeds/sport/1", false},
		{"bob", "b1", recv, "feeds/news/1", true},
		{"bob", "b1", sub, "$share/g/feeds/x", true}, // shared: checked by its filter
		{"bob", "b1", sub, "$share/g/other", false},
		{"bob", "b1", recv, "inbox/bob-b1", true},
		{"bob", "b1", recv, "inbox/bob-b2", false},
		// client section adds to the user's rights
		{"bob", "sensor-1", pub, "sensors/1/raw", true},
		{"bob", "b1", pub, "sensors/1/raw", false},
		{"", "sensor-1", pub, "sensors/1/raw", true},
		// a user with an empty section and an unknown user: default and patterns
		{"noRules", "n", recv, "announcements", true},
		{"noRules", "n", recv, "public/a", false},
		{"carol", "c", recv, "announcements", true},
		{"carol", "c", pub, "users/carol/x", true},
		{"carol", "c", recv, "public/a", false},
		// identities that cannot be a literal level gain nothing ...
		{"eve/x", "c", pub, "users/eve/x/a", false},
		{"e+", "c", pub, "users/e+/a", false},
		{"x", "dev/1", pub, "devices/dev/1/state", false},
		{"x", "#", pub, "devices/#/state", false},
		// ... and lose what a pattern denies to anyone
		{"e#", "c", recv, "users/bob/locked", false},
	}
	for _, tc := range cases {
		if got := acl.Allowed(tc.user, tc.client, tc.act, tc.topic); got != tc.want {
			t.Errorf("user %q client %q action %d %q: %v, want %v", tc.user, tc.client, tc.act, tc.topic, got, tc.want)
		}
	}
}

// A deny pattern applies to a client whose id cannot be a literal level as
// if the placeholder were '+'.
func TestACLUnsafeIdentityDeny(t *testing.T) {
	acl, err := ParseACL("t", []byte("user u\ntopic readwrite #\npattern deny devices/%c/config\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !acl.Allowed("u", "ok", broker.ActionPublish, "devices/other/config") {
		t.Fatal("a normal id lost rights it was not denied")
	}
	if acl.Allowed("u", "ok", broker.ActionPublish, "devices/ok/config") {
		t.Fatal("deny pattern not applied")
	}
	for _, id := range []string{"a/b", "+", "x#"} {
		if acl.Allowed("u", id, broker.ActionPublish, "devices/other/config") {
			t.Errorf("client %q escaped the deny pattern", id)
		}
		if !acl.Allowed("u", id, broker.ActionPublish, "elsewhere") {
			t.Errorf("client %q lost unrelated rights", id)
		}
	}
}

// Filter coverage for subscriptions, rule by rule.
func TestACLCover(t *testing.T) {
	cases := []struct {
		rule, sub string
		want      bool
	}{
		{"#", "#", true},
		{"#", "a/b", true},
		{"#", "$SYS/#", false},
		{"+/#", "a/b/#", true},
		{"a/#", "a", true},
		{"a/#", "a/#", true},
		{"a/#", "a/+/c", true},
		{"a/+", "a/#", false},
		{"a/+", "a/+", true},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/b", "a/+", false},
		{"a/b", "a/b", true},
		{"a", "a/#", false},
		{"+", "$SYS", false},
		{"$SYS/#", "$SYS/broker/+", true},
		{"a/+/c", "a/+/c", true},
		{"a/+/c", "a/b/#", false},
	}
	for _, tc := range cases {
		acl, err := ParseACL("t", []byte("user u\ntopic read "+tc.rule+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := acl.Allowed("u", "c", broker.ActionSubscribe, tc.sub); got != tc.want {
			t.Errorf("rule %q covers %q: %v, want %v", tc.rule, tc.sub, got, tc.want)
		}
	}
}

func TestACLParseErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"frobnicate x", `line 1: unknown keyword "frobnicate"`},
		{"\n\nuser", "line 3: user needs a name"},
		{"topic", "line 1: missing topic filter"},
		{"topic sometimes a/b", `line 1: unknown access "sometimes"`},
		{"topic read a/#/b", `line 1: "a/#/b": invalid topic filter`},
		{"topic read a+/b", "invalid topic filter"},
		{"topic read $share/g/a", "plain filters"},
		{"anonymous please", "anonymous takes no argument"},
		{"user u\ntopic read users/%u", "line 2: %u and %c are substituted in pattern lines only"},
	}
	for _, tc := range cases {
		_, err := ParseACL("f.acl", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.acl line") {
			t.Errorf("%q: error %v, want one containing %q", tc.text, err, tc.want)
		}
	}
	// mosquitto forms: no access word means readwrite; "deny" alone, and
	// a filter that looks like an access word.
	acl, err := ParseACL("f", []byte("user u\ntopic a/b\ntopic read\ntopic deny read\ntopic deny read x\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		act   broker.Action
		topic string
		want  bool
	}{
		{broker.ActionPublish, "a/b", true},
		{broker.ActionReceive, "a/b", true},
		{broker.ActionReceive, "read", false}, // "topic deny read": the filter "read", denied
		{broker.ActionPublish, "x", false},
	} {
		if got := acl.Allowed("u", "c", tc.act, tc.topic); got != tc.want {
			t.Errorf("%d %q: %v, want %v", tc.act, tc.topic, got, tc.want)
		}
	}
}

func TestSplitTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"%u-%c":  "%u|-|%c",
		"x%uy":   "x|%u|y",
		"100%":   "100%",
		"%x%u":   "%x|%u",
		"%c%c":   "%c|%c",
		"a%%u":   "a%|%u",
		"%u":     "%u",
		"pre-%c": "pre-|%c",
	} {
		if got := strings.Join(splitTemplate(in), "|"); got != want {
			t.Errorf("splitTemplate(%q) = %q, want %q", in, got, want)
		}
	}
}

// The ACL check on the publish path: one user with a few rules among many.
func BenchmarkACLAllowed(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString("user user" + itoa(i) + "\n")
		sb.WriteString("topic readwrite home/" + itoa(i) + "/#\n")
		sb.WriteString("topic read shared/+/status\n")
		sb.WriteString("topic deny home/" + itoa(i) + "/secret/#\n")
	}
	sb.WriteString("default\ntopic read $SYS/#\npattern readwrite users/%u/#\npattern write devices/%c/state\n")
	acl, err := ParseACL("bench", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("receive-allowed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !acl.Allowed("user500", "client-500", broker.ActionReceive, "home/500/kitchen/temperature") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("receive-denied", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if acl.Allowed("user500", "client-500", broker.ActionReceive, "home/501/kitchen/temperature") {
				b.Fatal("allowed")
			}
		}
	})
	b.Run("publish-pattern", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !acl.Allowed("user500", "client-500", broker.ActionPublish, "devices/client-500/state") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("subscribe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !acl.Allowed("user500", "client-500", broker.ActionSubscribe, "home/500/+/temperature") {
				b.Fatal("denied")
			}
		}
	})
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
