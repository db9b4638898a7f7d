package main

// mqttio health: is the local node ready? For container health checks,
// where the image has no shell and no curl.
//
//	mqttio health [--addr host:port] [--mqtt host:port] [--timeout 3s] [--config FILE]
//
// The check asks the node's readiness endpoint, GET /readyz on the admin
// listener (admin.address), which fails until the node has joined its
// cluster; when that endpoint answers, its answer decides. When nothing
// answers there (admin.address is "", the binary predates the admin
// listener, or the listener is not up yet), the node is checked over MQTT
// instead: it is ready when its TCP listener answers a CONNECT with a
// CONNACK. A node should therefore open its admin listener before its
// MQTT listeners, so that the MQTT check never stands in for /readyz on a
// node that has one.
//
// The addresses come from the same configuration layers as the node's own
// (defaults, --config FILE, MQTTIO_* environment), so inside a container
// the check needs no arguments: `docker exec` and HEALTHCHECK see the
// container's environment. --addr and --mqtt override them; an address
// whose host is empty or unspecified (":8081", "0.0.0.0:8081") is dialled
// on loopback.
//
// Exit status: 0 ready, 1 not ready, 2 bad command line or configuration.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

// adminAddressKey is the configuration key of the admin listener, which
// serves /healthz and /readyz.
const adminAddressKey = "admin.address"

// healthTarget is what a health check asks.
type healthTarget struct {
	// admin is the admin listener's address; "" for none.
	admin string
	// mqtt is the MQTT TCP listener's address; "" for none.
	mqtt string
}

// healthResult is the outcome of one check: ok, and what was seen.
type healthResult struct {
	ok     bool
	detail string
}

func runHealth(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqttio health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "admin listener `host:port` whose /readyz is asked (default: admin.address)")
	mqttAddr := fs.String("mqtt", "", "MQTT TCP `host:port` to check when /readyz does not answer (default: listeners.tcp.address)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this `duration`")
	configFile := fs.String("config", "", "YAML configuration `file` of the node")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, `Usage:
  mqttio health [flags]

Exits 0 when the local node is ready: its admin listener's /readyz answers
200 or, when nothing answers there, its MQTT port answers a CONNECT with a
CONNACK. Exits 1 when it is not, 2 on a bad command line or configuration.
The addresses come from the node's configuration (--config, MQTTIO_*).

Flags:
`)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "mqttio health: %v (see mqttio health --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mqttio health: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "mqttio health: --timeout must be positive")
		return exitUsage
	}
	cfg, err := Load(LoadOptions{
		File:    *configFile,
		Environ: environ,
		// node_id plays no part in the check: do not fail on the host name.
		Hostname: func() (string, error) { return "health", nil },
	})
	if err != nil {
		fmt.Fprintln(stderr, "mqttio health:", err)
		return exitUsage
	}
	target := healthTargetOf(cfg)
	if *addr != "" {
		target.admin = *addr
	}
	if *mqttAddr != "" {
		target.mqtt = *mqttAddr
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := checkHealth(ctx, target)
	if !r.ok {
		fmt.Fprintln(stderr, "mqttio health: not ready:", r.detail)
		return exitError
	}
	fmt.Fprintln(stdout, "mqttio health: ready:", r.detail)
	return exitOK
}

// healthTargetOf reads the addresses to check from the configuration. The
// admin listener is looked up in the key table rather than in Config, so
// this file does not depend on when that listener is added.
func healthTargetOf(cfg Config) healthTarget {
	var t healthTarget
	if f := fieldByKey[adminAddressKey]; f != nil && f.typ.Kind() == reflect.String {
		t.admin = f.format(&cfg)
	}
	t.mqtt = cfg.Listeners.TCP.Address
	return t
}

// checkHealth asks /readyz on the admin listener; when nothing answers
// there, or there is none, it checks MQTT.
func checkHealth(ctx context.Context, t healthTarget) healthResult {
	var unreachable string
	if t.admin != "" {
		r, reached := probeReady(ctx, t.admin)
		if reached || t.mqtt == "" {
			return r
		}
		unreachable = " (admin listener not answering: " + r.detail + ")"
	}
	if t.mqtt == "" {
		return healthResult{false, "nothing to check: admin.address and listeners.tcp.address are empty (use --addr or --mqtt)"}
	}
	r := probeMQTT(ctx, t.mqtt)
	r.detail += unreachable
	return r
}

// dialAddr turns a listen address into one to dial: an empty or
// unspecified host becomes loopback.
func dialAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %v", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::", "[::]":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// probeReady asks GET /readyz at addr. reached reports whether a
// connection could be made at all: only then does the answer speak for
// the node.
func probeReady(ctx context.Context, addr string) (r healthResult, reached bool) {
	hostPort, err := dialAddr(addr)
	if err != nil {
		return healthResult{false, "admin " + err.Error()}, false
	}
	url := "http://" + hostPort + "/readyz"
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{
		Proxy: nil, // never through HTTP_PROXY: this is the local node
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, a)
			if err == nil {
				reached = true
			}
			return c, err
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return healthResult{false, err.Error()}, false
	}
	resp, err := client.Do(req)
	if err != nil {
		return healthResult{false, fmt.Sprintf("GET %s: %v", url, err)}, reached
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := fmt.Sprintf("GET %s: %s", url, resp.Status)
	if s := strings.TrimSpace(string(body)); s != "" {
		msg += ": " + strings.Join(strings.Fields(s), " ")
	}
	return healthResult{resp.StatusCode == http.StatusOK, msg}, true
}

// probeMQTT connects to addr, sends an MQTT 3.1.1 CONNECT with a clean
// session and a random client identifier, and waits for the CONNACK. A
// refusal for the client's credentials or identifier (return codes 2, 4,
// 5) still shows a node that serves MQTT: ready. "Server unavailable" (3),
// an unacceptable protocol version (1), anything else, a closed
// connection or silence is not.
func probeMQTT(ctx context.Context, addr string) healthResult {
	hostPort, err := dialAddr(addr)
	if err != nil {
		return healthResult{false, "MQTT " + err.Error()}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", hostPort)
	if err != nil {
		return healthResult{false, fmt.Sprintf("MQTT %s: %v", hostPort, err)}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	id := make([]byte, 6)
	rand.Read(id)
	connect := &packet.Connect{
		ProtocolName: []byte("MQTT"),
		Version:      packet.V311,
		CleanStart:   true,
		KeepAlive:    10,
		ClientID:     []byte("mqttio-health-" + hex.EncodeToString(id)),
	}
	b, err := packet.AppendPacket(nil, packet.V311, connect)
	if err != nil {
		return healthResult{false, "MQTT: encode CONNECT: " + err.Error()}
	}
	if _, err := conn.Write(b); err != nil {
		return healthResult{false, fmt.Sprintf("MQTT %s: send CONNECT: %v", hostPort, err)}
	}
	p, err := packet.ReadPacket(bufio.NewReader(conn), packet.V311, 1<<16)
	if err != nil {
		return healthResult{false, fmt.Sprintf("MQTT %s: no CONNACK: %v", hostPort, err)}
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return healthResult{false, fmt.Sprintf("MQTT %s: expected CONNACK, got %T", hostPort, p)}
	}
	code := byte(ack.ReasonCode)
	if code == 0 {
		if b, err := packet.AppendPacket(nil, packet.V311, &packet.Disconnect{}); err == nil {
			conn.Write(b)
		}
	}
	switch code {
	case 0:
		return healthResult{true, fmt.Sprintf("MQTT %s: CONNACK accepted", hostPort)}
	case 2, 4, 5:
		return healthResult{true, fmt.Sprintf("MQTT %s: CONNACK refused the probe's identity (return code %d), the node serves MQTT", hostPort, code)}
	default:
		return healthResult{false, fmt.Sprintf("MQTT %s: CONNACK return code %d", hostPort, code)}
	}
}
