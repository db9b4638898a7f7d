package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// healthEnv is an environment in which `mqttio health` checks MQTT only:
// once the admin listener exists, it is disabled.
func healthEnv() []string {
	if fieldByKey[adminAddressKey] != nil {
		return []string{"MQTTIO_ADMIN_ADDRESS="}
	}
	return nil
}

// runHealthCmd runs `mqttio health args...` in environ.
func runHealthCmd(environ []string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(append([]string{"health"}, args...), environ, &out, &errb)
	return code, out.String(), errb.String()
}

// startHealthNode starts a node on an ephemeral loopback port and returns
// its MQTT address.
func startHealthNode(t *testing.T) string {
	t.Helper()
	n, err := startNode(nodeConfig(t, filepath.Join(t.TempDir(), "data")), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n.Addr("tcp").String()
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHealthReadyz(t *testing.T) {
	var ready atomic.Bool
	var paths atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.Method + " " + r.URL.Path)
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready.Load() {
			http.Error(w, "not ready: cluster\nnot joined", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	code, _, stderr := runHealthCmd(healthEnv(), "--addr", addr)
	if code != exitError || !strings.Contains(stderr, "503 Service Unavailable: not ready: cluster not joined") {
		t.Fatalf("not ready: exit %d, stderr %q", code, stderr)
	}
	if got := paths.Load(); got != "GET /readyz" {
		t.Fatalf("asked %v, want GET /readyz", got)
	}
	ready.Store(true)
	code, stdout, stderr := runHealthCmd(healthEnv(), "--addr", addr)
	if code != exitOK || !strings.Contains(stdout, "ready: GET http://"+addr+"/readyz: 200 OK") {
		t.Fatalf("ready: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// A listener whose host is unspecified is asked on loopback.
	_, port, _ := net.SplitHostPort(addr)
	if code, _, stderr := runHealthCmd(healthEnv(), "--addr", ":"+port); code != exitOK {
		t.Fatalf("--addr :%s: exit %d, %s", port, code, stderr)
	}
}

func TestHealthMQTT(t *testing.T) {
	addr := startHealthNode(t)
	code, stdout, stderr := runHealthCmd(healthEnv(), "--mqtt", addr)
	if code != exitOK || !strings.Contains(stdout, "CONNACK accepted") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// From the configuration's own listener address, as in a container.
	env := append(healthEnv(), "MQTTIO_LISTENERS_TCP_ADDRESS="+addr)
	if code, stdout, stderr := runHealthCmd(env); code != exitOK {
		t.Fatalf("from MQTTIO_LISTENERS_TCP_ADDRESS: exit %d, %q %q", code, stdout, stderr)
	}
	// Nothing listening.
	code, _, stderr = runHealthCmd(healthEnv(), "--mqtt", closedAddr(t))
	if code != exitError || !strings.Contains(stderr, "not ready: MQTT") {
		t.Fatalf("closed port: exit %d, stderr %q", code, stderr)
	}
}

// TestHealthFallback: /readyz decides when it answers; when nothing
// answers at the admin address, or there is none, MQTT does.
func TestHealthFallback(t *testing.T) {
	mqttAddr := startHealthNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cluster not joined", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()

	r := checkHealth(ctx, healthTarget{admin: strings.TrimPrefix(notReady.URL, "http://"), mqtt: mqttAddr})
	if r.ok || !strings.Contains(r.detail, "cluster not joined") {
		t.Fatalf("/readyz answers 503, MQTT serves: %+v, want not ready", r)
	}
	r = checkHealth(ctx, healthTarget{admin: closedAddr(t), mqtt: mqttAddr})
	if !r.ok || !strings.Contains(r.detail, "CONNACK accepted (admin listener not answering: GET http://") {
		t.Fatalf("nothing at the admin address: %+v, want the MQTT check", r)
	}
	r = checkHealth(ctx, healthTarget{mqtt: mqttAddr})
	if !r.ok {
		t.Fatalf("no admin listener: %+v, want the MQTT check", r)
	}
	r = checkHealth(ctx, healthTarget{admin: closedAddr(t)})
	if r.ok || !strings.Contains(r.detail, "/readyz") {
		t.Fatalf("nothing at the admin address, no MQTT listener: %+v", r)
	}
	r = checkHealth(ctx, healthTarget{})
	if r.ok || !strings.Contains(r.detail, "nothing to check") {
		t.Fatalf("no addresses: %+v", r)
	}

	// The addresses the command takes from this binary's configuration.
	target := healthTargetOf(DefaultConfig())
	if f := fieldByKey[adminAddressKey]; f != nil {
		cfg := DefaultConfig()
		if target.admin == "" || target.admin != f.format(&cfg) {
			t.Fatalf("binary with an admin listener: target %+v", target)
		}
	} else if target.admin != "" {
		t.Fatalf("binary without an admin listener: target %+v", target)
	}
	if target.mqtt != ":1883" {
		t.Fatalf("target %+v, want MQTT at :1883", target)
	}
}

// fakeBroker accepts one connection at a time, reads the CONNECT and
// answers with reply (nothing when nil, then holds the connection open).
func fakeBroker(t *testing.T, reply []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256)
				if _, err := c.Read(buf); err != nil {
					return
				}
				if reply != nil {
					c.Write(reply)
				}
				<-done
			}()
		}
	}()
	return l.Addr().String()
}

func TestHealthMQTTAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte
		ok    bool
		want  string
	}{
		{"accepted", []byte{0x20, 2, 0, 0}, true, "CONNACK accepted"},
		{"not authorized", []byte{0x20, 2, 0, 5}, true, "return code 5"},
		{"bad credentials", []byte{0x20, 2, 0, 4}, true, "return code 4"},
		{"identifier rejected", []byte{0x20, 2, 0, 2}, true, "return code 2"},
		{"server unavailable", []byte{0x20, 2, 0, 3}, false, "CONNACK return code 3"},
		{"protocol version", []byte{0x20, 2, 0, 1}, false, "CONNACK return code 1"},
		{"not a CONNACK", []byte{0xd0, 0}, false, "expected CONNACK"},
		{"silence", nil, false, "no CONNACK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeBroker(t, tc.reply)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			r := probeMQTT(ctx, addr)
			if r.ok != tc.ok || !strings.Contains(r.detail, tc.want) {
				t.Fatalf("got %+v, want ok=%v and %q", r, tc.ok, tc.want)
			}
		})
	}
}

func TestHealthDialAddr(t *testing.T) {
	for in, want := range map[string]string{
		":1883":           "127.0.0.1:1883",
		"0.0.0.0:8081":    "127.0.0.1:8081",
		"[::]:8081":       "[::1]:8081",
		"127.0.0.1:8081":  "127.0.0.1:8081",
		"mqttio-0:1883":   "mqttio-0:1883",
		"[fe80::1]:18083": "[fe80::1]:18083",
	} {
		if got, err := dialAddr(in); err != nil || got != want {
			t.Errorf("dialAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := dialAddr("1883"); err == nil {
		t.Error(`dialAddr("1883"): no error`)
	}
}

func TestHealthUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		code int
		want string
	}{
		{[]string{"--nope"}, nil, exitUsage, "flag provided but not defined: -nope"},
		{[]string{"extra"}, nil, exitUsage, `unexpected argument "extra"`},
		{[]string{"--timeout", "0s"}, nil, exitUsage, "--timeout must be positive"},
		{nil, []string{"MQTTIO_NO_SUCH_KEY=1"}, exitUsage, "MQTTIO_NO_SUCH_KEY: no such key"},
		{[]string{"--config", "/nonexistent/mqttio.yaml"}, nil, exitUsage, "no such file"},
		{[]string{"--help"}, nil, exitOK, "Usage:\n  mqttio health [flags]"},
	} {
		code, _, stderr := runHealthCmd(tc.env, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("health %q (env %q): exit %d, stderr %q; want %d and %q", tc.args, tc.env, code, stderr, tc.code, tc.want)
		}
	}
}

// TestBinaryHealth runs the built binary's health subcommand, as a
// container health check does.
func TestBinaryHealth(t *testing.T) {
	bin := binary(t)
	addr := startHealthNode(t)
	cmd := exec.Command(bin, "health", "--mqtt", addr, "--timeout", "5s")
	cmd.Env = append(cleanEnv(), healthEnv()...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mqttio health: ready: MQTT") {
		t.Fatalf("health: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "health", "--mqtt", closedAddr(t))
	cmd.Env = append(cleanEnv(), healthEnv()...)
	out, err = cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitError {
		t.Fatalf("health of a closed port: %v, want exit 1\n%s", err, out)
	}
}
