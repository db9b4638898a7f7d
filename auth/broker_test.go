package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttio/mqttio/auth"
	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// logBuffer collects every log line of a test, to check no secret leaks.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is one broker with an Authorizer, on a real TCP listener.
type env struct {
	t      *testing.T
	srv    *broker.Server
	auth   *auth.Authorizer
	addr   string
	logs   *logBuffer
	dir    string
	pwFile string
	acl    string
}

type envOptions struct {
	users          map[string]string // user → password
	acl            string            // ACL file text; "" for none
	allowAnonymous bool
	certCN         bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, logs: &logBuffer{}, dir: t.TempDir()}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.users != nil {
		e.pwFile = filepath.Join(e.dir, "passwd")
		for u, p := range o.users {
			if err := auth.AddUser(e.pwFile, u, []byte(p), bcrypt.MinCost); err != nil {
				t.Fatal(err)
			}
		}
	}
	if o.acl != "" {
		e.acl = filepath.Join(e.dir, "acl")
		e.writeACL(o.acl)
	}
	a, err := auth.New(auth.Options{
		PasswordFile: e.pwFile, ACLFile: e.acl,
		AllowAnonymous: o.allowAnonymous, CertCNAsUsername: o.certCN,
		CacheTTL: time.Minute, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.auth = a
	e.srv, err = broker.New(broker.Options{NodeID: "auth-test", Auth: a, Logger: logger, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	go e.srv.Serve(l, "tcp")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		// Secrets never reach the logs.
		logs := e.logs.String()
		for _, p := range o.users {
			if strings.Contains(logs, p) {
				t.Errorf("a password (%q) is in the logs:\n%s", p, logs)
			}
		}
	})
	return e
}

func (e *env) writeACL(text string) {
	e.t.Helper()
	if err := os.WriteFile(e.acl, []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// connect dials and sends CONNECT; pass "" as user for none.
func (e *env) try(v packet.Version, id, user, pass string) (*mqtttest.Conn, *packet.Connack) {
	e.t.Helper()
	c := mqtttest.Dial(e.t, e.addr, v)
	cp := &packet.Connect{ClientID: []byte(id), CleanStart: true, ProtocolName: []byte("MQTT")}
	if v == packet.V31 {
		cp.ProtocolName = []byte("MQIsdp")
	}
	if user != "" {
		cp.Username, cp.HasUsername = []byte(user), true
	}
	if pass != "" {
		cp.Password, cp.HasPassword = []byte(pass), true
	}
	return c, c.TryConnect(cp)
}

func (e *env) connect(v packet.Version, id, user, pass string) *mqtttest.Conn {
	e.t.Helper()
	c, ack := e.try(v, id, user, pass)
	if ack.ReasonCode != packet.Success {
		e.t.Fatalf("%s (%s): CONNACK %#x", id, user, byte(ack.ReasonCode))
	}
	return c
}

func (e *env) refused(v packet.Version, id, user, pass string, want packet.ReasonCode) {
	e.t.Helper()
	c, ack := e.try(v, id, user, pass)
	if ack.ReasonCode != want {
		e.t.Fatalf("v%d %s user %q: CONNACK %#x, want %#x", v, id, user, byte(ack.ReasonCode), byte(want))
	}
	c.ExpectClosed()
}

var users = map[string]string{"alice": "wonderland-7", "bob": "builder-42"}

func TestAuthenticate(t *testing.T) {
	e := newEnv(t, envOptions{users: users})
	for _, v := range []packet.Version{packet.V5, packet.V311, packet.V31} {
		// v3 has return codes 4 (bad user name or password) and 5 (not
		// authorized); v5 has 0x86 and 0x87.
		bad, notAuth := packet.BadUserNameOrPassword, packet.NotAuthorized
		if v != packet.V5 {
			bad, notAuth = 4, 5
		}
		e.refused(v, "c1", "alice", "wrong", bad)
		e.refused(v, "c2", "mallory", "wonderland-7", bad) // unknown user
		e.refused(v, "c3", "alice", "", bad)               // no password
		e.refused(v, "c4", "", "", notAuth)                // anonymous
		e.connect(v, "c5", "alice", "wonderland-7").Conn.Close()
	}
	// v5 lets a client send a password without a username: still anonymous.
	e.refused(packet.V5, "c6", "", "wonderland-7", packet.NotAuthorized)
	if st := e.srv.Stats(); st.AuthFailures != 13 {
		t.Fatalf("AuthFailures = %d, want 13", st.AuthFailures)
	}
	// Every refusal was logged with the client and user, never the password.
	logs := e.logs.String()
	for _, want := range []string{`msg="authentication failed" component=auth client=c1 username=alice`, "reason=\"unknown user\"", `reason="anonymous access is disabled"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// Repeated checks of one (user, password) are answered by the cache.
	if st := e.auth.Stats(); st.CacheHits == 0 || st.Users != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAnonymousAllowed(t *testing.T) {
	e := newEnv(t, envOptions{users: users, allowAnonymous: true})
	e.connect(packet.V311, "anon", "", "")
	// A username with a wrong password is refused, not downgraded.
	e.refused(packet.V311, "x", "alice", "nope", 4)
	e.connect(packet.V5, "a", "bob", "builder-42")

	// Without a password file, usernames are not checked.
	e2 := newEnv(t, envOptions{allowAnonymous: true})
	e2.connect(packet.V5, "x", "anyone", "anything")
	e3 := newEnv(t, envOptions{allowAnonymous: false})
	e3.refused(packet.V5, "x", "anyone", "anything", packet.NotAuthorized)
}

// A user deleted from the file cannot connect after a reload; a connected
// client of that user is not dropped; a file that does not load changes
// nothing.
func TestReloadRevokesUser(t *testing.T) {
	e := newEnv(t, envOptions{users: users})
	old := e.connect(packet.V5, "alice-1", "alice", "wonderland-7")
	old.Subscribe(1, 1, "news")
	if err := auth.DeleteUser(e.pwFile, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := auth.AddUser(e.pwFile, "carol", []byte("new-user"), bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	// Before the reload the old file is in force.
	e.connect(packet.V5, "alice-2", "alice", "wonderland-7").Conn.Close()
	e.refused(packet.V5, "carol-1", "carol", "new-user", packet.BadUserNameOrPassword)
	if err := e.auth.Reload(); err != nil {
		t.Fatal(err)
	}
	e.refused(packet.V5, "alice-3", "alice", "wonderland-7", packet.BadUserNameOrPassword)
	carol := e.connect(packet.V5, "carol-2", "carol", "new-user")
	// alice-1 is still connected and served.
	carol.Publish("news", 1, false, "still here?", 1)
	old.Ack(old.ExpectPublish("news", "still here?"))
	if _, ok := e.srv.Client("alice-1"); !ok {
		t.Fatal("alice-1 was dropped by the reload")
	}

	// A broken file: the reload fails and the previous users stay.
	os.WriteFile(e.pwFile, []byte("carol:plaintext\n"), 0o600)
	if err := e.auth.Reload(); err == nil || !strings.Contains(err.Error(), "unsupported hash") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	e.connect(packet.V5, "carol-3", "carol", "new-user")
	if st := e.auth.Stats(); st.Reloads != 1 || st.ReloadFailures != 1 {
		t.Fatalf("stats %+v", st)
	}
	if strings.Contains(e.logs.String(), "plaintext") {
		t.Fatal("the reload error logged the content of the file")
	}
}

const brokerACL = `
user alice
topic readwrite alice/#
topic read #
topic deny secret/#
topic write secret/drop
topic deny alice/private/#

user bob
topic write secret/#
topic readwrite public/#
topic write alice/inbox

default
pattern readwrite users/%u/#
pattern readwrite clients/%c/#
`

func TestACLThroughBroker(t *testing.T) {
	e := newEnv(t, envOptions{users: users, acl: brokerACL})
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(map[packet.Version]string{packet.V311: "v3.1.1", packet.V5: "v5"}[v], func(t *testing.T) {
			sfx := string(rune('0' + v))
			alice := e.connect(v, "alice-"+sfx, "alice", "wonderland-7")
			bob := e.connect(v, "bob-"+sfx, "bob", "builder-42")
			fail := packet.ReasonCode(0x80)
			if v == packet.V5 {
				fail = packet.NotAuthorized
			}
			// SUBSCRIBE: one code per filter; refused ones get 0x80 / 0x87.
			codes := alice.Subscribe(1, 1, "#", "secret/#", "alice/#", "users/alice/+", "clients/alice-"+sfx+"/#", "$SYS/#")
			want := []packet.ReasonCode{1, fail, 1, 1, 1, fail}
			if !equalCodes(codes, want) {
				t.Fatalf("alice SUBACK %v, want %v", codes, want)
			}
			// %u: bob may subscribe to his users/ tree, not to alice's.
			codes = bob.Subscribe(1, 0, "users/bob/#", "users/alice/#", "alice/#")
			if !equalCodes(codes, []packet.ReasonCode{0, fail, fail}) {
				t.Fatalf("bob SUBACK %v", codes)
			}

			// bob may write secret/..., alice's '#' must not receive it.
			bob.Publish("secret/plans", 1, false, "classified", 1)
			bob.Publish("public/hello", 1, false, "hi", 2)
			alice.Ack(alice.ExpectPublish("public/hello", "hi"))
			// bob may write alice/inbox, alice reads it.
			bob.Publish("alice/inbox", 0, false, "for you", 0)
			alice.ExpectPublish("alice/inbox", "for you")

			// A forbidden PUBLISH: v5 PUBACK 0x87, v3 acknowledged and dropped.
			forbidden := func(topic string, pid uint16) {
				t.Helper()
				if rc := alice.Publish(topic, 1, false, "refused", pid); v == packet.V5 && rc != packet.NotAuthorized {
					t.Fatalf("forbidden publish to %s: PUBACK %#x, want 0x87", topic, byte(rc))
				}
			}
			forbidden("public/hello", 3)
			// Deny overrides: alice may write alice/#, but not
			// alice/private/...; she may write secret/drop, but the deny on
			// secret/# wins.
			forbidden("alice/private/diary", 4)
			forbidden("secret/drop", 5)
			// %u and %c patterns.
			alice.Publish("users/alice/x", 0, false, "mine", 0)
			alice.ExpectPublish("users/alice/x", "mine")
			forbidden("users/bob/x", 6)
			alice.Publish("clients/alice-"+sfx+"/y", 0, false, "by id", 0)
			alice.ExpectPublish("clients/alice-"+sfx+"/y", "by id")
			forbidden("clients/bob-"+sfx+"/y", 7)
			bob.Publish("users/bob/z", 0, false, "bob's", 0)
			bob.ExpectPublish("users/bob/z", "bob's")
			alice.ExpectPublish("users/bob/z", "bob's") // alice reads #
			// Nothing refused reached anyone.
			alice.ExpectNone()
			bob.ExpectNone()
			alice.Conn.Close()
			bob.Conn.Close()
		})
	}
	if st := e.srv.Stats(); st.Denied == 0 {
		t.Fatal("no denial counted")
	}
}

// Retained messages on a topic the subscriber may not read are not sent
// for its new subscription; an ACL reload takes effect for connected
// clients at once.
func TestACLRetainedAndReload(t *testing.T) {
	e := newEnv(t, envOptions{users: users, acl: brokerACL})
	bob := e.connect(packet.V5, "bob", "bob", "builder-42")
	bob.Publish("secret/retained", 1, true, "top secret", 1)
	bob.Publish("alice/inbox", 1, true, "readable", 2)
	alice := e.connect(packet.V5, "alice", "alice", "wonderland-7")
	alice.Subscribe(1, 1, "#")
	p := alice.ExpectPublish("alice/inbox", "readable")
	alice.Ack(p)
	alice.ExpectNone()

	// Take alice's read access away, give it to bob, and reload.
	e.writeACL(strings.Replace(brokerACL, "topic read #", "", 1) + "user bob\ntopic read alice/#\n")
	if err := e.auth.Reload(); err != nil {
		t.Fatal(err)
	}
	bob.Subscribe(3, 0, "alice/#")
	bob.ExpectPublish("alice/inbox", "readable")
	bob.Publish("alice/inbox", 0, false, "after reload", 0)
	bob.ExpectPublish("alice/inbox", "after reload")
	// alice still reads alice/# (readwrite alice/#) through her '#'
	// subscription, but no longer anything else.
	alice.ExpectPublish("alice/inbox", "after reload")
	bob.Publish("public/x", 0, false, "public", 0)
	alice.ExpectNone()
	// A broken ACL keeps the rules in force.
	e.writeACL("frobnicate x\n")
	if err := e.auth.Reload(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("broken ACL: %v", err)
	}
	bob.Publish("alice/inbox", 0, false, "still", 0)
	bob.ExpectPublish("alice/inbox", "still")
}

// On an mTLS listener the certificate's CN is the username: no password is
// needed, and the ACL's user section of that name applies.
func TestCertCNAsUsername(t *testing.T) {
	e := newEnv(t, envOptions{users: users, certCN: true, acl: `
user device-7
topic readwrite devices/7/#
user alice
topic read devices/#
`})
	pki := newPKI(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pki.leaf(t, "localhost", true)},
		ClientCAs:    pki.pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	})
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(l, "tls")
	dial := func(cn string) *mqtttest.Conn {
		cfg := &tls.Config{RootCAs: pki.pool, ServerName: "localhost"}
		if cn != "" {
			cfg.Certificates = []tls.Certificate{pki.leaf(t, cn, false)}
		}
		tc, err := tls.Dial("tcp", l.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return mqtttest.Wrap(t, tc, packet.V5)
	}
	dev := dial("device-7")
	// A username in CONNECT does not override the certificate.
	dev.Connect(&packet.Connect{ClientID: []byte("dev7"), CleanStart: true, Username: []byte("alice"), HasUsername: true})
	if v, ok := e.srv.Client("dev7"); !ok || v.CommonName != "device-7" || v.Transport != "tls" {
		t.Fatalf("client view %+v", v)
	}
	alice := e.connect(packet.V5, "alice", "alice", "wonderland-7")
	alice.Subscribe(1, 0, "devices/#")
	if rc := dev.Publish("devices/7/temp", 1, false, "21.5", 1); rc != packet.Success && rc != packet.NoMatchingSubscribers {
		t.Fatalf("device-7 publish: %v", rc)
	}
	alice.ExpectPublish("devices/7/temp", "21.5")
	if rc := dev.Publish("devices/8/temp", 1, false, "spoof", 2); rc != packet.NotAuthorized {
		t.Fatalf("device-7 publishing for device 8: %v", rc)
	}
	alice.ExpectNone()
	// Without a certificate, TLS clients need a password like anyone.
	anon := dial("")
	if ack := anon.TryConnect(&packet.Connect{ClientID: []byte("nocert"), CleanStart: true, ProtocolName: []byte("MQTT")}); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("no certificate, no username: %#x", byte(ack.ReasonCode))
	}
	pw := dial("")
	pw.Connect(&packet.Connect{ClientID: []byte("tls-alice"), CleanStart: true, Username: []byte("alice"), HasUsername: true, Password: []byte("wonderland-7"), HasPassword: true})
}

func equalCodes(a, b []packet.ReasonCode) bool {
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

// ---- a small PKI ----

type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	pool  *x509.CertPool
	next  int64
	nextM sync.Mutex
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqttio test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: ca, key: key, pool: x509.NewCertPool(), next: 2}
	p.pool.AddCert(ca)
	return p
}

// leaf issues a certificate for cn: a server certificate for 127.0.0.1 and
// localhost, or a client certificate.
func (p *pki) leaf(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.nextM.Lock()
	serial := p.next
	p.next++
	p.nextM.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Debian's mosquitto clients against the broker: -u/-P, a wrong password,
// a denied publish.
func TestMosquittoClients(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Fatal("mosquitto_sub not installed (apt-get install mosquitto-clients):", err)
	}
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{users: users, acl: brokerACL})
	host, port, _ := net.SplitHostPort(e.addr)
	base := []string{"-h", host, "-p", port}
	run := func(bin string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append(base, args...)...).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return string(out), ee.ExitCode()
		case err != nil:
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
		return string(out), 0
	}

	var subOut bytes.Buffer
	cmd := exec.Command(sub, append(base, "-i", "msub", "-u", "alice", "-P", "wonderland-7", "-q", "1", "-t", "alice/#", "-t", "secret/#", "-C", "1", "-W", "20", "-v")...)
	cmd.Stdout, cmd.Stderr = &subOut, &subOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	mqtttest.Eventually(t, "mosquitto_sub subscribed", func() bool {
		s, ok := e.srv.Session("msub")
		return ok && len(s.Subscriptions) == 1 && s.Subscriptions[0].Filter == "alice/#"
	})
	// Refused: wrong password (v3.1.1 return code 4, v5 0x86), then a
	// publish alice may not make.
	if out, code := run(pub, "-u", "bob", "-P", "wrong", "-t", "alice/inbox", "-m", "x"); code == 0 || !strings.Contains(out, "bad user name or password") {
		t.Fatalf("wrong password: exit %d: %s", code, out)
	}
	if out, code := run(pub, "-V", "mqttv5", "-u", "bob", "-P", "wrong", "-t", "alice/inbox", "-m", "x"); code != 0x86 {
		t.Fatalf("wrong password (v5): exit %d: %s", code, out)
	}
	if out, code := run(pub, "-V", "mqttv5", "-u", "alice", "-P", "wonderland-7", "-q", "1", "-t", "secret/x", "-m", "x"); !strings.Contains(out, "Not authorized") {
		t.Fatalf("forbidden publish (v5): exit %d: %q", code, out)
	}
	if out, code := run(pub, "-u", "bob", "-P", "builder-42", "-q", "1", "-t", "alice/inbox", "-m", "hello from mosquitto_pub"); code != 0 {
		t.Fatalf("mosquitto_pub: exit %d: %s", code, out)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v\n%s", err, subOut.String())
	}
	if got := subOut.String(); got != "alice/inbox hello from mosquitto_pub\n" {
		t.Fatalf("mosquitto_sub printed %q", got)
	}
}

// A reconnect storm of one user through a real broker, with the
// production bcrypt cost: each op is one CONNECT answered by CONNACK.
// go test -run x -bench ReconnectStorm -benchtime 20x ./auth/
func BenchmarkReconnectStorm(b *testing.B) {
	dir := b.TempDir()
	pw := filepath.Join(dir, "passwd")
	if err := auth.AddUser(pw, "fleet", []byte("fleet-password"), auth.DefaultCost); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"cache", time.Minute}, {"no-cache", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			a, err := auth.New(auth.Options{PasswordFile: pw, CacheTTL: tc.ttl, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := broker.New(broker.Options{Auth: a, Logger: slog.New(slog.DiscardHandler), SysInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l, "tcp")
			defer srv.Shutdown(context.Background())
			i := 0
			for b.Loop() {
				c := mqtttest.Dial(b, l.Addr().String(), packet.V311)
				i++
				c.Connect(&packet.Connect{ClientID: []byte("dev-" + strconv.Itoa(i)), CleanStart: true,
					Username: []byte("fleet"), HasUsername: true, Password: []byte("fleet-password"), HasPassword: true})
				c.Conn.Close()
			}
			st := a.Stats()
			b.ReportMetric(float64(st.Verifications), "bcrypts")
		})
	}
}

// Authorize as the core calls it for every delivery, through the
// Authorizer (snapshot load, identity, trie walk).
func BenchmarkAuthorizeReceive(b *testing.B) {
	dir := b.TempDir()
	acl := filepath.Join(dir, "acl")
	var sb strings.Builder
	for i := range 1000 {
		n := strconv.Itoa(i)
		sb.WriteString("user u" + n + "\ntopic readwrite home/" + n + "/#\ntopic deny home/" + n + "/secret/#\n")
	}
	sb.WriteString("pattern read devices/%c/#\n")
	os.WriteFile(acl, []byte(sb.String()), 0o600)
	a, err := auth.New(auth.Options{ACLFile: acl, AllowAnonymous: true})
	if err != nil {
		b.Fatal(err)
	}
	ci := &broker.ClientInfo{ClientID: "c-500", Username: "u500"}
	b.ReportAllocs()
	for b.Loop() {
		if !a.Authorize(ci, broker.ActionReceive, "home/500/kitchen/temp") {
			b.Fatal("denied")
		}
	}
}
