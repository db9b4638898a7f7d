package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker/mqtttest"
	"github.com/mqttio/mqttio/broker/packet"
)

// syncBuffer is a log sink that broker goroutines and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mqttio test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// nodeConfig is a configuration on loopback ephemeral ports in a temp dir.
func nodeConfig(t *testing.T, dataDir string, extra ...string) Config {
	t.Helper()
	kv := append([]string{
		"node_id", "test-node",
		"data_dir", dataDir,
		"listeners.tcp.address", "127.0.0.1:0",
		"listeners.http.address", "",
		"listeners.https.address", "",
		"admin.address", "127.0.0.1:0",
		"shutdown_timeout", "5s",
	}, extra...)
	return mustLoad(t, "", nil, set(kv...)...)
}

func TestNodeStartStop(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	dataDir := filepath.Join(dir, "data", "nested")
	cfg := nodeConfig(t, dataDir,
		"listeners.tls.address", "127.0.0.1:0",
		"listeners.tls.cert_file", cert,
		"listeners.tls.key_file", key,
	)
	var logs syncBuffer
	n, err := startNode(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr, tlsAddr := n.Addr("tcp"), n.Addr("tls")
	if tcpAddr == nil || tlsAddr == nil || n.Addr("ws") != nil {
		t.Fatalf("listeners: tcp %v tls %v", tcpAddr, tlsAddr)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "mqttio.db")); err != nil {
		t.Fatalf("no database file: %v", err)
	}
	for _, want := range []string{
		"msg=listening transport=tcp address=" + tcpAddr.String(),
		"msg=listening transport=tls address=" + tlsAddr.String(),
		`msg="mqttio started" node_id=test-node`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	// MQTT over TCP and over TLS reach the same broker.
	sub := mqtttest.Dial(t, tcpAddr.String(), packet.V311)
	sub.Connect(&packet.Connect{ClientID: []byte("sub"), CleanStart: true})
	sub.Subscribe(1, 1, "t/#")
	roots := x509.NewCertPool()
	pemCert, err := os.ReadFile(cert)
	if err != nil || !roots.AppendCertsFromPEM(pemCert) {
		t.Fatalf("read %s: %v", cert, err)
	}
	tc, err := tls.Dial("tcp", tlsAddr.String(), &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	pub := mqtttest.Wrap(t, tc, packet.V5)
	pub.Connect(&packet.Connect{ClientID: []byte("pub-tls"), CleanStart: true})
	pub.Publish("t/1", 1, false, "over tls", 7)
	sub.Ack(sub.ExpectPublish("t/1", "over tls"))
	// A retained message goes to the store.
	pub.Publish("keep/me", 1, true, "retained", 8)
	sub.Conn.Close()
	pub.Conn.Close()

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []net.Addr{tcpAddr, tlsAddr} {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts after Stop", a)
		}
	}

	// The store was closed and reopens: the retained message survived.
	n, err = startNode(nodeConfig(t, dataDir), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("restart on the same data_dir: %v", err)
	}
	c := mqtttest.Dial(t, n.Addr("tcp").String(), packet.V5)
	c.Connect(&packet.Connect{ClientID: []byte("late"), CleanStart: true})
	c.Subscribe(1, 0, "keep/#")
	if p := c.ExpectPublish("keep/me", "retained"); !p.Retain {
		t.Fatal("retained message delivered without the retain flag")
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
}

// A listener that fails for good stops the node (exit status 1 in run).
func TestNodeListenerFailure(t *testing.T) {
	n, err := startNode(nodeConfig(t, t.TempDir()), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	n.listeners[0].l.Close() // behind the broker's back
	select {
	case err := <-n.failed:
		if !strings.Contains(err.Error(), "tcp listener 127.0.0.1:") {
			t.Fatalf("failure: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a dead listener was not reported")
	}
}

func TestNodeStartErrors(t *testing.T) {
	dir := t.TempDir()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dataDir := filepath.Join(dir, "data")
	cert, key := selfSigned(t, dir)
	notAFile := filepath.Join(dir, "file")
	if err := os.WriteFile(notAFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"port in use", nodeConfig(t, dataDir, "listeners.tcp.address", busy.Addr().String()),
			"listeners.tcp: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
		{"TLS port in use", nodeConfig(t, dataDir, "listeners.tls.address", busy.Addr().String(),
			"listeners.tls.cert_file", cert, "listeners.tls.key_file", key), "listeners.tls: listen tcp"},
		{"bad certificate", nodeConfig(t, dataDir, "listeners.tls.address", "127.0.0.1:0",
			"listeners.tls.cert_file", key, "listeners.tls.key_file", key), "listeners.tls: tls: load key pair"},
		{"missing CA", nodeConfig(t, dataDir, "listeners.tls.address", "127.0.0.1:0",
			"listeners.tls.cert_file", cert, "listeners.tls.key_file", key,
			"listeners.tls.client_auth", "require", "listeners.tls.client_ca_file", filepath.Join(dir, "nope.pem")),
			"listeners.tls: tls: client CA"},
		{"data_dir is a file", nodeConfig(t, notAFile), "data_dir: mkdir " + notAFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := startNode(tc.cfg, discard)
			if err == nil {
				n.Stop()
				t.Fatal("startNode succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}

	// Every failed start above closed its store and listeners: the data
	// directory and the free ports can be used at once.
	n, err := startNode(nodeConfig(t, dataDir), discard)
	if err != nil {
		t.Fatalf("start after failed starts: %v", err)
	}
	defer n.Stop()
	// A second node on the same data directory is refused (file lock).
	n2, err := startNode(nodeConfig(t, dataDir), discard)
	if err == nil {
		n2.Stop()
		t.Fatal("two nodes opened one data_dir")
	}
	if !strings.HasPrefix(err.Error(), "storage: ") {
		t.Fatalf("second node: %v", err)
	}
}

func TestRunCommands(t *testing.T) {
	env := []string{"HOME=/nonexistent", "MQTTIO_MQTT_MAX_QOS=1"}
	cases := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{name: "version", args: []string{"version"}, stdout: "mqttio dev go"},
		{name: "--version", args: []string{"--version"}, stdout: "mqttio dev go"},
		{name: "help", args: []string{"help"}, stderr: "Usage:"},
		{name: "-h", args: []string{"-h"}, stderr: "--set"},
		{name: "unknown command", args: []string{"start"}, code: exitUsage, stderr: `mqttio: unknown command "start"`},
		{name: "unknown flag", args: []string{"--bogus"}, code: exitUsage, stderr: "mqttio: flag provided but not defined: -bogus (see mqttio --help)\n"},
		{name: "set without =", args: []string{"--set", "x"}, code: exitUsage, stderr: "want key=value"},
		{name: "extra argument", args: []string{"serve", "now"}, code: exitUsage, stderr: `mqttio: unexpected argument "now"`},
		{name: "bad value", args: []string{"--set", "mqtt.max_inflight=0"}, code: exitUsage,
			stderr: "mqttio: config: mqtt.max_inflight: must be between 1 and 65535 (got 0) [from --set]\n"},
		{name: "bad env", args: []string{"config"}, env: []string{"MQTTIO_NOPE=1"}, code: exitUsage,
			stderr: "mqttio: config: environment variable MQTTIO_NOPE: no such key"},
		{name: "missing file", args: []string{"--config", "/nonexistent/mqttio.yaml"}, code: exitUsage,
			stderr: "mqttio: config: open /nonexistent/mqttio.yaml"},
		{name: "config", args: []string{"config", "--data-dir", "/srv/d", "--node-id", "n9"}, env: env,
			stdout: "node_id: \"n9\"\ndata_dir: \"/srv/d\"\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, tc.env, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Fatalf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if tc.code != 0 && strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("error output is not one line: %q", stderr.String())
			}
		})
	}

	// `mqttio config` prints a file that loads back to the same config.
	var stdout bytes.Buffer
	if code := run([]string{"config", "--listen-tcp", ":1", "--set", "mqtt.max_packet_size=2MiB"}, env, &stdout, io.Discard); code != 0 {
		t.Fatalf("config: exit %d", code)
	}
	want := mustLoad(t, "", env, set("listeners.tcp.address", ":1", "mqtt.max_packet_size", "2MiB")...)
	got, err := Load(LoadOptions{File: writeYAML(t, stdout.String())})
	if err != nil {
		t.Fatal(err)
	}
	want.NodeID = got.NodeID // the host name, resolved by each Load
	if !reflect.DeepEqual(got, want) || got.MQTT.MaxQoS != 1 {
		t.Fatalf("config output does not load back:\n%s\ngot  %+v\nwant %+v", stdout.String(), got, want)
	}
}

// ---- the real binary ----

// binDir holds the binary once built; TestMain removes it.
var binDir string

// buildBinary compiles cmd/mqttio once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mqttio-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "mqttio")
	cmd := exec.Command(gobin, "build", "-o", bin, "-ldflags", "-X main.version=v0.0.0-e2e", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// cleanEnv is the test's environment without MQTTIO_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return env
}

// proc is a running mqttio process whose JSON log lines are collected.
type proc struct {
	cmd   *exec.Cmd
	lines chan string // stderr, line by line; closed at EOF
	done  chan struct{}
	err   error // Wait's result, once done is closed
	log   []string
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), lines: make(chan string, 100), done: make(chan struct{})}
	p.cmd.Env = cleanEnv()
	p.cmd.Dir = t.TempDir()
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLog reads log lines until one has msg (JSON logs) and returns it.
func (p *proc) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("process ended before logging %q:\n%s", msg, strings.Join(p.log, "\n"))
			}
			p.log = append(p.log, line)
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
				return rec
			}
		case <-timeout:
			t.Fatalf("no %q log line within 30s:\n%s", msg, strings.Join(p.log, "\n"))
		}
	}
}

// wait drains the log and returns the exit code.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if ok {
				p.log = append(p.log, line)
				continue
			}
			p.lines = nil
		case <-p.done:
			var ee *exec.ExitError
			if errors.As(p.err, &ee) {
				return ee.ExitCode()
			}
			if p.err != nil {
				t.Fatal(p.err)
			}
			return 0
		case <-timeout:
			t.Fatalf("process did not exit within 30s:\n%s", strings.Join(p.log, "\n"))
		}
	}
}

func TestBinaryServeAndSignals(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mqttio v0.0.0-e2e ") {
		t.Fatalf("--version: %q, %v", out, err)
	}

	dataDir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dataDir, "--listen-tcp", "127.0.0.1:0", "--listen-http", "",
		"--listen-admin", "127.0.0.1:0", "--log-format", "json", "--node-id", "e2e"}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startProc(t, args...)
			rec := p.waitLog(t, "listening")
			addr, _ := rec["address"].(string)
			if rec["transport"] != "tcp" || !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
				t.Fatalf("listening record: %v", rec)
			}
			started := p.waitLog(t, "mqttio started")
			if started["node_id"] != "e2e" || started["version"] != "v0.0.0-e2e" {
				t.Fatalf("started record: %v", started)
			}
			c := mqtttest.Dial(t, addr, packet.V5)
			c.Connect(&packet.Connect{ClientID: []byte("e2e-sub"), CleanStart: true})
			c.Subscribe(1, 1, "e2e/#")
			pub := mqtttest.Dial(t, addr, packet.V311)
			pub.Connect(&packet.Connect{ClientID: []byte("e2e-pub"), CleanStart: true})
			pub.Publish("e2e/x", 1, false, "hi", 2)
			c.Ack(c.ExpectPublish("e2e/x", "hi"))
			if _, err := os.Stat(filepath.Join(dataDir, "mqttio.db")); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// Connected clients are told why they are dropped.
			if d := mqtttest.Expect[*packet.Disconnect](c); d.ReasonCode != packet.ServerShuttingDown {
				t.Fatalf("DISCONNECT reason %v, want ServerShuttingDown", d.ReasonCode)
			}
			c.ExpectClosed()
			p.waitLog(t, "stopped")
			if code := p.wait(t); code != 0 {
				t.Fatalf("exit code %d after %v:\n%s", code, sig, strings.Join(p.log, "\n"))
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Fatalf("%s still open after exit", addr)
			}
		})
	}
}

func TestBinaryStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"port in use", []string{"--data-dir", dataDir, "--listen-tcp", busy.Addr().String(), "--listen-http", ""},
			1, "mqttio: listeners.tcp: listen tcp " + busy.Addr().String() + ": bind: address already in use"},
		{"bad certificate", []string{"--data-dir", dataDir, "--listen-tcp", "", "--listen-tls", "127.0.0.1:0",
			"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"},
			1, "mqttio: listeners.tls: tls: load key pair /nonexistent/c.pem, /nonexistent/k.pem"},
		{"bad config", []string{"--set", "mqtt.max_inflight=0"},
			2, "mqttio: config: mqtt.max_inflight: must be between 1 and 65535 (got 0) [from --set]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startProc(t, append(tc.args, "--log-format", "json")...)
			code := p.wait(t)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d:\n%s", code, tc.code, strings.Join(p.log, "\n"))
			}
			// The error is the one line that is not a JSON log record.
			var plain []string
			for _, l := range p.log {
				if !strings.HasPrefix(l, "{") {
					plain = append(plain, l)
				}
			}
			if len(plain) != 1 || !strings.HasPrefix(plain[0], tc.want) {
				t.Fatalf("error lines %q, want one starting %q", plain, tc.want)
			}
		})
	}
}
