package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttio/mqttio/admin"
	"github.com/mqttio/mqttio/auth"
	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

const token = "s3cr3t-admin-token-for-tests"

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

// env is a broker (with an ACL and a password file) and its admin
// listener, both on real sockets.
type env struct {
	t     *testing.T
	srv   *broker.Server
	adm   *admin.Server
	mqtt  string // MQTT address
	url   string // admin base URL
	token string
	logs  *logBuffer
}

func newEnv(t *testing.T, tok string) *env {
	t.Helper()
	e := &env{t: t, token: tok, logs: &logBuffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	pw, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	if err := auth.AddUser(pw, "alice", []byte("alice-pw"), bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	writeFile(t, acl, "user alice\ntopic readwrite #\ntopic deny secret/#\nanonymous\ntopic readwrite #\n")
	a, err := auth.New(auth.Options{PasswordFile: pw, ACLFile: acl, AllowAnonymous: true, CacheTTL: time.Minute, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = broker.New(broker.Options{NodeID: "node-a", Auth: a, Logger: logger, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.mqtt = ml.Addr().String()
	go e.srv.Serve(ml, "tcp")

	e.adm = admin.New(admin.Options{Broker: e.srv, NodeID: "node-a", Version: "v9.9.9", Token: tok, Logger: logger})
	e.adm.Registry().MustRegister(admin.NewAuthCollector(a))
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + al.Addr().String()
	done := make(chan error, 1)
	go func() { done <- e.adm.Serve(al) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.adm.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		e.srv.Shutdown(ctx)
		if tok != "" && strings.Contains(e.logs.String(), tok) {
			t.Errorf("the admin token is in the logs")
		}
		if strings.Contains(e.logs.String(), "alice-pw") {
			t.Errorf("a password is in the logs")
		}
	})
	return e
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := writeFileErr(path, text); err != nil {
		t.Fatal(err)
	}
}

// request sends one request with the env's token (or tok when given) and
// returns the status and body.
func (e *env) request(method, path string, tok ...string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	bearer := e.token
	if len(tok) > 0 {
		bearer = tok[0]
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, body
}

func (e *env) getJSON(path string, out any) {
	e.t.Helper()
	code, body := e.request("GET", path)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		e.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// metric returns the value of one sample of the /metrics text, or -1.
func metric(body, sample string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

func (e *env) scrape() string {
	e.t.Helper()
	code, body := e.request("GET", "/metrics", "")
	if code != http.StatusOK {
		e.t.Fatalf("/metrics: %d", code)
	}
	return string(body)
}

func (e *env) client(v packet.Version, id, user, pass string) *mqtttest.Conn {
	e.t.Helper()
	c := mqtttest.Dial(e.t, e.mqtt, v)
	cp := &packet.Connect{ClientID: []byte(id), CleanStart: true}
	if user != "" {
		cp.Username, cp.HasUsername, cp.Password, cp.HasPassword = []byte(user), true, []byte(pass), true
	}
	c.Connect(cp)
	return c
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t, token)
	if code, body := e.request("GET", "/healthz", ""); code != 200 || string(body) != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := e.request("GET", "/readyz", ""); code != 200 || !strings.Contains(string(body), `"status": "ready"`) {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	var ready errorFlag
	e.adm.AddReadyCheck("cluster", ready.check)
	ready.set(errors.New("not joined"))
	if code, body := e.request("GET", "/readyz", ""); code != 503 || !strings.Contains(string(body), `"cluster": "not joined"`) {
		t.Fatalf("/readyz with a failing check: %d %s", code, body)
	}
	ready.set(nil)
	if code, _ := e.request("GET", "/readyz", ""); code != 200 {
		t.Fatalf("/readyz after recovery: %d", code)
	}

	m := e.scrape()
	for _, s := range []string{
		`mqttio_connections`, `mqttio_messages_received_total`, `mqttio_retained_messages`, `mqttio_auth_users`,
		`mqttio_build_info{goversion="` + runtimeVersion() + `",node_id="node-a",version="v9.9.9"}`,
	} {
		if metric(m, s) < 0 {
			t.Fatalf("/metrics lacks %s:\n%s", s, m)
		}
	}
	if !strings.Contains(m, "go_goroutines ") || !strings.Contains(m, "process_start_time_seconds ") {
		t.Fatal("/metrics lacks the Go and process collectors")
	}

	// The counters move.
	sub := e.client(packet.V5, "sub", "alice", "alice-pw")
	sub.Subscribe(1, 1, "t/#")
	pub := e.client(packet.V311, "pub", "", "")
	pub.Publish("t/1", 1, true, "hello", 1)
	sub.Ack(sub.ExpectPublish("t/1", "hello"))
	bad := mqtttest.Dial(t, e.mqtt, packet.V5)
	bad.TryConnect(&packet.Connect{ClientID: []byte("bad"), CleanStart: true, Username: []byte("alice"), HasUsername: true, Password: []byte("nope"), HasPassword: true})
	bad.ExpectClosed()
	sub.Publish("secret/x", 1, false, "no", 2)

	m = e.scrape()
	for sample, want := range map[string]float64{
		`mqttio_clients_connected{protocol="5",transport="tcp"}`:     1,
		`mqttio_clients_connected{protocol="3.1.1",transport="tcp"}`: 1,
		`mqttio_messages_received_total`:                             2,
		`mqttio_messages_sent_total`:                                 1,
		`mqttio_retained_messages`:                                   1,
		`mqttio_sessions`:                                            2,
		`mqttio_subscriptions`:                                       1,
		`mqttio_auth_failures_total`:                                 1,
		`mqttio_authorization_denials_total`:                         1,
		`mqttio_auth_users`:                                          1,
		`mqttio_auth_acl_rules`:                                      3,
	} {
		if got := metric(m, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if metric(m, "mqttio_bytes_received_total") <= 0 || metric(m, "mqttio_bytes_sent_total") <= 0 || metric(m, "mqttio_auth_password_verifications_total") < 1 {
		t.Errorf("byte and verification counters did not move:\n%s", m)
	}
}

type errorFlag struct {
	mu  sync.Mutex
	err error
}

func (f *errorFlag) set(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }
func (f *errorFlag) check() error  { f.mu.Lock(); defer f.mu.Unlock(); return f.err }

func TestAPIAuth(t *testing.T) {
	e := newEnv(t, token)
	for _, tc := range []struct {
		tok  string
		want int
	}{{"", 401}, {"wrong", 401}, {token + "x", 401}, {token, 200}} {
		code, body := e.request("GET", "/api/v1/node", tc.tok)
		if code != tc.want {
			t.Errorf("token %q: %d %s, want %d", tc.tok, code, body, tc.want)
		}
	}
	// Probes, metrics and the dashboard need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/", "/static/app.js"} {
		if code, _ := e.request("GET", p, ""); code != 200 {
			t.Errorf("GET %s without a token: %d", p, code)
		}
	}
	if code, _ := e.request("GET", "/api/v1/nope"); code != 404 {
		t.Errorf("unknown endpoint: %d", code)
	}
	if code, _ := e.request("POST", "/api/v1/node"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/v1/node: %d", code)
	}

	// No token configured: the API is off, the rest is served.
	off := newEnv(t, "")
	if code, body := off.request("GET", "/api/v1/node", "anything"); code != 404 || !strings.Contains(string(body), "admin.token") {
		t.Fatalf("API without a token: %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/metrics", "/"} {
		if code, _ := off.request("GET", p, ""); code != 200 {
			t.Errorf("GET %s with the API off: %d", p, code)
		}
	}
	// A token set later turns it on.
	off.adm.SetToken("later")
	if code, _ := off.request("GET", "/api/v1/node", "later"); code != 200 {
		t.Fatalf("after SetToken: %d", code)
	}
}

func TestAPINodeClientsKick(t *testing.T) {
	e := newEnv(t, token)
	v5 := e.client(packet.V5, "kick-me", "alice", "alice-pw")
	v5.Subscribe(1, 1, "a/#", "$share/g/b/+")
	v3 := e.client(packet.V311, "old-client", "", "")

	var node admin.Node
	e.getJSON("/api/v1/node", &node)
	if node.ID != "node-a" || node.Version != "v9.9.9" || node.Stats.Connections != 2 || node.Stats.Subscriptions != 2 || node.UptimeSeconds <= 0 {
		t.Fatalf("node %+v", node)
	}

	var list admin.List[admin.Client]
	e.getJSON("/api/v1/clients", &list)
	if list.Count != 2 || list.Items[0].ClientID != "kick-me" || list.Items[1].ClientID != "old-client" {
		t.Fatalf("clients %+v", list)
	}
	c := list.Items[0]
	if c.Username != "alice" || c.Transport != "tcp" || c.ProtocolVersion != 5 || c.Protocol != "5" ||
		c.Subscriptions != 2 || !strings.HasPrefix(c.RemoteAddr, "127.0.0.1:") || time.Since(c.ConnectedAt) > time.Minute {
		t.Fatalf("client %+v", c)
	}
	e.getJSON("/api/v1/clients?search=ALICE", &list)
	if list.Count != 1 || list.Items[0].ClientID != "kick-me" {
		t.Fatalf("search by username: %+v", list)
	}
	e.getJSON("/api/v1/clients?limit=1", &list)
	if list.Count != 1 || !list.Truncated || list.Items[0].ClientID != "kick-me" {
		t.Fatalf("limit: %+v", list)
	}
	if code, _ := e.request("GET", "/api/v1/clients?limit=0"); code != 400 {
		t.Fatalf("limit=0: %d", code)
	}

	var d admin.ClientDetail
	e.getJSON("/api/v1/clients/kick-me", &d)
	if d.Client == nil || d.Session == nil || len(d.Session.Subscriptions) != 2 ||
		d.Session.Subscriptions[0].Filter != "$share/g/b/+" || d.Session.Subscriptions[0].Group != "g" ||
		d.Session.Subscriptions[1].Filter != "a/#" || d.Session.Subscriptions[1].QoS != 1 {
		t.Fatalf("detail %+v %+v", d.Client, d.Session)
	}
	if code, _ := e.request("GET", "/api/v1/clients/nobody"); code != 404 {
		t.Fatalf("unknown client: %d", code)
	}

	// Kick: v5 gets DISCONNECT 0x98, v3 is closed.
	api := &admin.APIClient{BaseURL: e.url, Token: token}
	ctx := context.Background()
	if err := api.Kick(ctx, "kick-me"); err != nil {
		t.Fatal(err)
	}
	v5.ExpectDisconnect(packet.AdministrativeAction)
	if code, body := e.request("DELETE", "/api/v1/clients/old-client"); code != 200 {
		t.Fatalf("kick v3: %d %s", code, body)
	}
	v3.ExpectClosed()
	mqtttest.Eventually(t, "no clients left", func() bool { return e.srv.Stats().Connections == 0 })
	if err := api.Kick(ctx, "kick-me"); !errors.Is(err, admin.ErrNotConnected) {
		t.Fatalf("kicking a gone client: %v", err)
	}
	if _, err := (&admin.APIClient{BaseURL: e.url, Token: "wrong"}).Clients(ctx, "", 0); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	// A client id with a slash and a space is addressed escaped.
	odd := e.client(packet.V5, "site/1 dev", "", "")
	if err := api.Kick(ctx, "site/1 dev"); err != nil {
		t.Fatal(err)
	}
	odd.ExpectDisconnect(packet.AdministrativeAction)

	// The kicks were audited, with who asked.
	if n := strings.Count(e.logs.String(), `"msg":"client disconnected by the admin API"`); n != 3 {
		t.Fatalf("%d audit lines:\n%s", n, e.logs.String())
	}
}

func TestAPISessionsSubscriptions(t *testing.T) {
	e := newEnv(t, token)
	c := mqtttest.Dial(t, e.mqtt, packet.V5)
	cp := &packet.Connect{ClientID: []byte("persistent"), CleanStart: true}
	cp.Properties.Has |= packet.HasSessionExpiry
	cp.Properties.SessionExpiry = 3600
	c.Connect(cp)
	c.Subscribe(1, 2, "sensors/+/temp")
	other := e.client(packet.V311, "other", "", "")
	other.Subscribe(1, 0, "sensors/#", "alerts")
	c.Conn.Close()
	mqtttest.Eventually(t, "persistent session offline", func() bool {
		s, ok := e.srv.Session("persistent")
		return ok && !s.Connected
	})

	// A QoS 1 message for the offline session is queued.
	pub := e.client(packet.V5, "pub", "", "")
	pub.Publish("sensors/1/temp", 1, false, "21", 1)
	other.ExpectPublish("sensors/1/temp", "21")
	m := e.scrape()
	if metric(m, "mqttio_queued_messages") != 1 || metric(m, "mqttio_inflight_messages") != 0 {
		t.Fatalf("queued/inflight gauges:\n%s", m)
	}

	var sessions admin.List[admin.Session]
	e.getJSON("/api/v1/sessions?search=e", &sessions) // "persistent", "other"; not "pub"
	if sessions.Count != 2 {
		t.Fatalf("sessions %+v", sessions)
	}
	p := sessions.Items[1]
	if p.ClientID != "persistent" || p.Connected || !p.Persistent || p.ExpiryInterval == nil || *p.ExpiryInterval != 3600 ||
		p.OfflineSince == nil || p.SubCount != 1 || p.Queued != 1 {
		t.Fatalf("offline session %+v", p)
	}
	var d admin.ClientDetail
	e.getJSON("/api/v1/clients/persistent", &d)
	if d.Client != nil || d.Session == nil || d.Session.Subscriptions[0].QoS != 2 {
		t.Fatalf("offline detail %+v", d)
	}

	var subs admin.List[admin.Subscription]
	e.getJSON("/api/v1/subscriptions", &subs)
	if subs.Count != 3 {
		t.Fatalf("subscriptions %+v", subs)
	}
	// Who receives sensors/1/temp?
	e.getJSON("/api/v1/subscriptions?topic=sensors/1/temp", &subs)
	if subs.Count != 2 || subs.Items[0].ClientID != "other" || subs.Items[1].ClientID != "persistent" {
		t.Fatalf("?topic= %+v", subs)
	}
	e.getJSON("/api/v1/subscriptions?client=other&filter=alert", &subs)
	if subs.Count != 1 || subs.Items[0].Filter != "alerts" {
		t.Fatalf("?client=&filter= %+v", subs)
	}
	if code, _ := e.request("GET", "/api/v1/subscriptions?topic=a/%2B"); code != 400 {
		t.Fatalf("?topic= with a wildcard: %d", code)
	}
}

func TestAPIRetained(t *testing.T) {
	e := newEnv(t, token)
	pub := e.client(packet.V5, "pub", "", "")
	for _, tp := range []string{"a/b", "a/c", "/lead", "bin"} {
		payload := "value of " + tp
		if tp == "bin" {
			payload = "\xff\xfe"
		}
		pub.Publish(tp, 1, true, payload, 1)
	}
	var list admin.List[admin.Retained]
	e.getJSON("/api/v1/retained", &list)
	if list.Count != 4 || list.Items[0].Topic != "/lead" || list.Items[1].Topic != "a/b" {
		t.Fatalf("retained %+v", list)
	}
	r := list.Items[1]
	if r.Payload == nil || *r.Payload != "value of a/b" || r.QoS != 1 || r.PayloadSize != 12 || string(r.PayloadBase64) != "value of a/b" {
		t.Fatalf("a/b: %+v", r)
	}
	if b := list.Items[3]; b.Topic != "bin" || b.Payload != nil || string(b.PayloadBase64) != "\xff\xfe" {
		t.Fatalf("binary payload: %+v", b)
	}
	e.getJSON("/api/v1/retained?filter="+url.QueryEscape("a/+"), &list)
	if list.Count != 2 {
		t.Fatalf("?filter=a/+: %+v", list)
	}
	if code, _ := e.request("GET", "/api/v1/retained?filter=a/%23/b"); code != 400 {
		t.Fatalf("bad filter: %d", code)
	}

	if code, body := e.request("DELETE", "/api/v1/retained/a/b"); code != 200 {
		t.Fatalf("delete a/b: %d %s", code, body)
	}
	if code, _ := e.request("DELETE", "/api/v1/retained/a/b"); code != 404 {
		t.Fatalf("delete a/b again: %d", code)
	}
	// A topic with an empty first level: the query form.
	if code, body := e.request("DELETE", "/api/v1/retained?topic="+url.QueryEscape("/lead")); code != 200 {
		t.Fatalf("delete /lead: %d %s", code, body)
	}
	if code, _ := e.request("DELETE", "/api/v1/retained?topic=a/%2B"); code != 400 {
		t.Fatalf("delete a wildcard: %d", code)
	}
	// A new subscriber gets only what is left.
	sub := e.client(packet.V5, "sub", "", "")
	sub.Subscribe(1, 0, "a/#", "/lead")
	sub.ExpectPublish("a/c", "value of a/c")
	sub.ExpectNone()
	if st := e.srv.Stats(); st.Retained != 2 {
		t.Fatalf("retained count %d", st.Retained)
	}
}

func TestDashboard(t *testing.T) {
	e := newEnv(t, token)
	req, _ := http.NewRequest("GET", e.url+"/", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `<script src="static/app.js"`) ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("dashboard: %d %v\n%s", res.StatusCode, res.Header, body)
	}
	for path, ctype := range map[string]string{"/static/app.js": "text/javascript", "/static/style.css": "text/css"} {
		res, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) {
			t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if code, _ := e.request("GET", "/nope", ""); code != 404 {
		t.Fatalf("/nope: %d", code)
	}
}

func writeFileErr(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }

func runtimeVersion() string { return runtime.Version() }

// The introspection views run against connections coming and going; under
// -race this checks their locking.
func TestIntrospectionUnderChurn(t *testing.T) {
	e := newEnv(t, token)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Raw writes, no reads: t.Fatal is not for this goroutine.
				nc, err := net.Dial("tcp", e.mqtt)
				if err != nil {
					t.Error(err)
					return
				}
				id := "churn-" + strconv.Itoa(w) + "-" + strconv.Itoa(i%5)
				cp := &packet.Connect{ProtocolName: []byte("MQTT"), Version: packet.V5, ClientID: []byte(id), CleanStart: i%2 == 0}
				if i%3 == 0 {
					cp.Properties.Has |= packet.HasSessionExpiry
					cp.Properties.SessionExpiry = 60
				}
				var b []byte
				for _, p := range []any{cp,
					&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: []byte("churn/" + id), QoS: 1}, {Filter: []byte("churn/all"), QoS: 1}}},
					&packet.Publish{Topic: []byte("churn/all"), QoS: 1, PacketID: 2, Payload: []byte("x")},
				} {
					b, _ = packet.AppendPacket(b, packet.V5, p)
				}
				nc.Write(b)
				nc.Close()
			}
		}()
	}
	for range 50 {
		for range e.srv.Clients() {
		}
		for v := range e.srv.Sessions() {
			e.srv.Session(v.ClientID)
			e.srv.Client(v.ClientID)
		}
		for range e.srv.Subscriptions() {
		}
		e.srv.Backlog()
		e.srv.ConnectionCounts()
		e.scrape()
		e.request("GET", "/api/v1/clients")
	}
	close(stop)
	wg.Wait()
}

// Every metric the Grafana dashboard queries is one a node exports.
func TestGrafanaDashboardMetrics(t *testing.T) {
	data, err := os.ReadFile("../deployments/grafana/mqttio.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, token)
	e.client(packet.V5, "c", "", "") // labelled gauges have samples only with connections
	exported := map[string]bool{}
	for _, line := range strings.Split(e.scrape(), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			exported[strings.Fields(name)[0]] = true
		}
	}
	name := regexp.MustCompile(`\b(mqttio|go|process)_[a-z_]+\b`)
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				used++
				base := strings.TrimSuffix(m, "_total")
				if !exported[m] && !exported[base] {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, m)
				}
			}
		}
	}
	if used < 20 {
		t.Fatalf("only %d metric references found", used)
	}
}
