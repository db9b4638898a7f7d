package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttio/mqttio/auth"
	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

func TestAuthAdminConfig(t *testing.T) {
	c := mustLoad(t, "", nil)
	if c.AnonymousAllowed() != true || c.AuthEnabled() {
		t.Fatal("defaults: anonymous refused or an authorizer needed")
	}
	for _, tc := range []struct {
		kv        []string
		anonymous bool
	}{
		{[]string{"auth.password_file", "/p"}, false},
		{[]string{"auth.password_file", "/p", "auth.allow_anonymous", "true"}, true},
		{[]string{"auth.acl_file", "/a"}, true},
		{[]string{"auth.use_cert_cn_as_username", "true", "auth.allow_anonymous", "false"}, false},
	} {
		c := mustLoad(t, "", nil, set(tc.kv...)...)
		if c.AnonymousAllowed() != tc.anonymous || !c.AuthEnabled() {
			t.Errorf("%v: anonymous %v, auth %v", tc.kv, c.AnonymousAllowed(), c.AuthEnabled())
		}
	}
	for _, tc := range []struct {
		kv   []string
		want string
	}{
		{[]string{"auth.allow_anonymous", "maybe"}, "auth.allow_anonymous: must be one of auto, true, false"},
		{[]string{"auth.allow_anonymous", "false"}, "auth.allow_anonymous: false refuses every client"},
		{[]string{"auth.cache_ttl", "-1s"}, "auth.cache_ttl: must not be negative"},
		{[]string{"admin.address", "8081"}, "admin.address: must be host:port"},
		{[]string{"admin.token", "a", "admin.token_file", "/t"}, "admin.token_file: set admin.token or admin.token_file, not both"},
		{[]string{"admin.token", "<redacted>"}, "admin.token: is the placeholder"},
		{[]string{"admin.token", "two words"}, "admin.token: must not contain spaces"},
	} {
		_, err := load(t, "", nil, set(tc.kv...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.kv, err, tc.want)
		}
	}
	// The token never appears in `mqttio config`, from any layer.
	var out, errb bytes.Buffer
	if code := run([]string{"config"}, []string{"MQTTIO_ADMIN_TOKEN=hunter2-token"}, &out, &errb); code != 0 {
		t.Fatalf("config: %d %s", code, errb.String())
	}
	if strings.Contains(out.String(), "hunter2-token") || !strings.Contains(out.String(), "token: \"<redacted>\"") {
		t.Fatalf("config output:\n%s", out.String())
	}
	// ... and what it prints cannot be loaded back as a working token.
	if _, err := Load(LoadOptions{File: writeYAML(t, out.String())}); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("loading a redacted token: %v", err)
	}
}

func TestPasswdCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	pw := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runPasswd(args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, e := pw("from-stdin\n", "add", "--cost", "4", file, "alice"); code != 0 || !strings.Contains(out, "set the password of alice") {
		t.Fatalf("add from stdin: %d %s %s", code, out, e)
	}
	// Flags after the positional arguments, as scripts write them.
	if code, _, e := pw("", "add", file, "bob", "--password", "from-flag", "--cost", "4"); code != 0 {
		t.Fatalf("add --password: %d %s", code, e)
	}
	p, err := auth.LoadPasswords(file)
	if err != nil || p.Len() != 2 {
		t.Fatalf("file: %v %v", p, err)
	}
	data, _ := os.ReadFile(file)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		user, hash, _ := strings.Cut(line, ":")
		want := map[string]string{"alice": "from-stdin", "bob": "from-flag"}[user]
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte(want)) != nil {
			t.Errorf("%s: the hash does not match the password", user)
		}
		if cost, _ := bcrypt.Cost([]byte(hash)); cost != 4 {
			t.Errorf("%s: cost %d", user, cost)
		}
	}
	if code, out, _ := pw("", "delete", file, "bob"); code != 0 || !strings.Contains(out, "deleted bob") {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, _, e := pw("", "delete", file, "bob"); code != exitError || !strings.Contains(e, `no such user "bob"`) {
		t.Fatalf("delete again: %d %s", code, e)
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", nil, exitUsage, "want add FILE USER or delete FILE USER"},
		{"", []string{"add", file}, exitUsage, "want add FILE USER"},
		{"", []string{"rename", file, "x"}, exitUsage, "want add FILE USER"},
		{"", []string{"add", file, "carol"}, exitUsage, "no password on standard input"},
		{"x\n", []string{"add", "--cost", "3", file, "carol"}, exitUsage, "--cost must be between 4 and 31"},
		{"x\n", []string{"add", file, "a:b"}, exitUsage, "must not contain ':'"},
		{"", []string{"add", "--bogus", file, "carol"}, exitUsage, "flag provided but not defined"},
		{"x\n", []string{"add", "--cost", "4", filepath.Join(t.TempDir(), "no", "dir"), "carol"}, exitError, "no such file or directory"},
		{"", []string{"--help"}, exitOK, "mqttio passwd add"},
	} {
		code, _, e := pw(tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(e, tc.want) {
			t.Errorf("passwd %v: %d %q, want %d %q", tc.args, code, e, tc.code, tc.want)
		}
	}
}

// A node with a password file, an ACL and an admin token, in-process: the
// subcommands against its admin listener, and a reload.
func TestNodeAuthAndAdmin(t *testing.T) {
	dir := t.TempDir()
	pwFile, aclFile := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	for u, p := range map[string]string{"alice": "alice-secret", "bob": "bob-secret"} {
		if err := auth.AddUser(pwFile, u, []byte(p), bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(aclFile, []byte("user alice\ntopic readwrite #\nuser bob\ntopic readwrite bob/#\n"), 0o600)
	var logs syncBuffer
	n, err := startNode(nodeConfig(t, filepath.Join(dir, "data"),
		"auth.password_file", pwFile, "auth.acl_file", aclFile, "admin.token", "node-token",
		"log.level", "debug"), slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	addr, adminAddr := n.Addr("tcp").String(), n.AdminAddr().String()

	// Anonymous access is refused by default once there is a password file.
	c := mqtttest.Dial(t, addr, packet.V311)
	if ack := c.TryConnect(&packet.Connect{ClientID: []byte("anon"), CleanStart: true, ProtocolName: []byte("MQTT")}); ack.ReasonCode != 5 {
		t.Fatalf("anonymous: %v", ack.ReasonCode)
	}
	login := func(id, user, pass string) *mqtttest.Conn {
		c := mqtttest.Dial(t, addr, packet.V5)
		c.Connect(&packet.Connect{ClientID: []byte(id), CleanStart: true, Username: []byte(user), HasUsername: true, Password: []byte(pass), HasPassword: true})
		return c
	}
	alice := login("alice-1", "alice", "alice-secret")
	bob := login("bob-1", "bob", "bob-secret")
	if codes := bob.Subscribe(1, 0, "bob/#", "alice/#"); codes[0] != 0 || codes[1] != packet.NotAuthorized {
		t.Fatalf("bob SUBACK %v", codes)
	}

	clients := func(env []string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"clients"}, args...), env, &out, &errb)
		return code, out.String(), errb.String()
	}
	tokenEnv := []string{"MQTTIO_ADMIN_TOKEN=node-token"}
	code, out, e := clients(tokenEnv, "list", "--admin", adminAddr)
	if code != 0 || !regexp.MustCompile(`(?m)^alice-1 +alice +127\.0\.0\.1:\d+ +tcp +5 `).MatchString(out) || !strings.Contains(out, "bob-1") {
		t.Fatalf("clients list: %d\n%s%s", code, out, e)
	}
	code, out, _ = clients(nil, "list", "--admin", "http://"+adminAddr, "--token", "node-token", "--search", "BOB", "--json")
	if code != 0 || !strings.Contains(out, `"client_id": "bob-1"`) || strings.Contains(out, "alice-1") {
		t.Fatalf("clients list --search --json: %d\n%s", code, out)
	}
	if code, _, e := clients(nil, "list", "--admin", adminAddr); code != exitError || !strings.Contains(e, "401") || !strings.Contains(e, "MQTTIO_ADMIN_TOKEN") {
		t.Fatalf("no token: %d %s", code, e)
	}
	if code, out, e := clients(tokenEnv, "kick", "bob-1", "--admin", adminAddr); code != 0 || out != "disconnected bob-1\n" {
		t.Fatalf("kick: %d %s %s", code, out, e)
	}
	bob.ExpectDisconnect(packet.AdministrativeAction)
	if code, _, e := clients(tokenEnv, "kick", "bob-1", "--admin", adminAddr); code != exitError || !strings.Contains(e, "not connected") {
		t.Fatalf("kick again: %d %s", code, e)
	}

	// Revoke bob and reload: he cannot come back, alice is untouched.
	if code, _, e := func() (int, string, string) {
		var out, errb bytes.Buffer
		return runPasswd([]string{"delete", pwFile, "bob"}, nil, &out, &errb), out.String(), errb.String()
	}(); code != 0 {
		t.Fatalf("passwd delete: %s", e)
	}
	if err := n.Reload(); err != nil {
		t.Fatal(err)
	}
	b := mqtttest.Dial(t, addr, packet.V5)
	if ack := b.TryConnect(&packet.Connect{ClientID: []byte("bob-2"), CleanStart: true, ProtocolName: []byte("MQTT"), Username: []byte("bob"), HasUsername: true, Password: []byte("bob-secret"), HasPassword: true}); ack.ReasonCode != packet.BadUserNameOrPassword {
		t.Fatalf("revoked bob: %v", ack.ReasonCode)
	}
	alice.Publish("x", 0, false, "still connected", 0)
	alice.ExpectNone()

	// Metrics carry the auth counters; /readyz fails once the node stops.
	res, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{"mqttio_auth_reloads_total 1", "mqttio_auth_users 1", "mqttio_auth_failures_total 2"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	n.stopping.Store(true)
	res, err = http.Get("http://" + adminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while stopping: %d", res.StatusCode)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", adminAddr); err == nil {
		c.Close()
		t.Fatal("admin listener open after Stop")
	}
	for _, secret := range []string{"node-token", "alice-secret", "bob-secret"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("%q is in the logs", secret)
		}
	}
}

func TestClientsCommandErrors(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, []string{}, exitUsage, "want list, or kick CLIENT-ID"},
		{nil, []string{"kick"}, exitUsage, "want list, or kick CLIENT-ID"},
		{nil, []string{"list", "extra"}, exitUsage, "want list"},
		{[]string{"MQTTIO_ADMIN_ADDRESS="}, []string{"list"}, exitUsage, "admin.address is empty"},
		{nil, []string{"list", "--admin", "nope"}, exitUsage, `admin address "nope"`},
		{nil, []string{"list", "--admin", closedAddr}, exitError, "connection refused"},
		{[]string{"MQTTIO_BOGUS=1"}, []string{"list"}, exitUsage, "MQTTIO_BOGUS"},
		{nil, []string{"list", "--token-file", "/nonexistent/token"}, exitUsage, "admin.token_file"},
		{nil, []string{"--help"}, exitOK, "mqttio clients list"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"clients"}, tc.args...), tc.env, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("clients %v: %d %q, want %d %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
	for in, want := range map[string]string{":8081": "http://127.0.0.1:8081", "0.0.0.0:1": "http://127.0.0.1:1", "[::]:2": "http://[::1]:2", "h:3": "http://h:3", "https://x/": "https://x"} {
		if got, err := adminBaseURL(in); err != nil || got != want {
			t.Errorf("adminBaseURL(%q) = %q, %v", in, got, err)
		}
	}
	if got := printable("evil\x1b[2Jid"); got != `evil\x1b[2Jid` {
		t.Errorf("printable: %q", got)
	}
}

// The built binary: passwd from a pipe, SIGHUP reloading the password,
// ACL and token files while clients stay connected, and no secret in the
// debug logs.
func TestBinaryReloadOnSIGHUP(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	pwFile, aclFile, tokFile := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl"), filepath.Join(dir, "token")
	passwd := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"passwd"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mqttio passwd %v: %v\n%s", args, err, out)
		}
	}
	passwd("alice-pass-1\n", "add", "--cost", "4", pwFile, "alice")
	passwd("", "add", "--cost", "4", "--password", "bob-pass-1", pwFile, "bob")
	os.WriteFile(aclFile, []byte("user alice\ntopic readwrite #\nuser bob\ntopic readwrite bob/#\n"), 0o600)
	os.WriteFile(tokFile, []byte("token-one\n"), 0o600)

	p := startProc(t, "--data-dir", filepath.Join(dir, "data"), "--listen-tcp", "127.0.0.1:0", "--listen-http", "",
		"--listen-admin", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug", "--node-id", "hup",
		"--set", "auth.password_file="+pwFile, "--set", "auth.acl_file="+aclFile, "--set", "admin.token_file="+tokFile)
	addr := p.waitLog(t, "listening")["address"].(string)
	adminAddr := p.waitLog(t, "admin listening")["address"].(string)
	p.waitLog(t, "mqttio started")

	login := func(id, user, pass string) (*mqtttest.Conn, packet.ReasonCode) {
		c := mqtttest.Dial(t, addr, packet.V5)
		ack := c.TryConnect(&packet.Connect{ClientID: []byte(id), CleanStart: true, ProtocolName: []byte("MQTT"),
			Username: []byte(user), HasUsername: true, Password: []byte(pass), HasPassword: true})
		return c, ack.ReasonCode
	}
	alice, rc := login("alice-1", "alice", "alice-pass-1")
	bob, rc2 := login("bob-1", "bob", "bob-pass-1")
	if rc != 0 || rc2 != 0 {
		t.Fatalf("CONNACK alice %v bob %v", rc, rc2)
	}
	alice.Subscribe(1, 0, "#")
	bob.Subscribe(1, 0, "bob/#")
	alice.Publish("bob/1", 0, false, "before", 0)
	bob.ExpectPublish("bob/1", "before")
	alice.ExpectPublish("bob/1", "before")

	// Revoke bob, take bob/# away from alice's reading, rotate the token.
	passwd("", "delete", pwFile, "bob")
	os.WriteFile(aclFile, []byte("user alice\ntopic readwrite #\ntopic deny read bob/#\nuser bob\ntopic readwrite bob/#\n"), 0o600)
	os.WriteFile(tokFile, []byte("token-two\n"), 0o600)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if rec := p.waitLog(t, "auth reloaded"); rec["users"] != float64(1) || rec["acl_rules"] != float64(3) {
		t.Fatalf("reload record %v", rec)
	}
	p.waitLog(t, "reload complete")

	if _, rc := login("bob-2", "bob", "bob-pass-1"); rc != packet.BadUserNameOrPassword {
		t.Fatalf("revoked bob reconnecting: %v", rc)
	}
	// The connected bob was not dropped, and the new ACL applies to the
	// connected alice: she no longer receives bob/...
	alice.Publish("bob/2", 1, false, "after", 2) // a delivery to alice would come before this PUBACK
	bob.ExpectPublish("bob/2", "after")
	alice.ExpectNone()

	api := func(tok, method, path string) int {
		req, _ := http.NewRequest(method, "http://"+adminAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if api("token-one", "GET", "/api/v1/node") != 401 || api("token-two", "GET", "/api/v1/node") != 200 {
		t.Fatal("the token file was not re-read")
	}
	out, err := exec.Command(bin, "clients", "kick", "bob-1", "--admin", adminAddr, "--token", "token-two").CombinedOutput()
	if err != nil {
		t.Fatalf("mqttio clients kick: %v\n%s", err, out)
	}
	bob.ExpectDisconnect(packet.AdministrativeAction)

	// A file that does not load: logged, the previous rules stay.
	os.WriteFile(aclFile, []byte("user alice\ntopic sometimes #\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	if rec := p.waitLog(t, "auth reload failed; keeping the previous files"); !strings.Contains(rec["err"].(string), "line 2") {
		t.Fatalf("failed reload record %v", rec)
	}
	alice.Publish("bob/3", 1, false, "still denied", 3)
	alice.ExpectNone()

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := strings.Join(p.log, "\n")
	for _, secret := range []string{"alice-pass-1", "bob-pass-1", "token-one", "token-two"} {
		if strings.Contains(logs, secret) {
			t.Errorf("%q is in the logs", secret)
		}
	}
	if !strings.Contains(logs, `"msg":"authentication failed"`) || !strings.Contains(logs, `"username":"bob"`) {
		t.Errorf("the refused login was not logged:\n%s", logs)
	}
}
