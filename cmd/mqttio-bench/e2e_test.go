package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttio/mqttio/broker"
	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/transport/httpmux"
)

// startBroker runs an in-process broker on an ephemeral loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	srv, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l, "tcp")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

func baseConfig(addr string) config {
	return config{
		addr:     addr,
		version:  packet.V311,
		size:     16,
		window:   1000,
		writers:  4,
		drain:    5 * time.Second,
		settle:   0,
		dialers:  8,
		timeout:  10 * time.Second,
		duration: time.Second,
		pid:      os.Getpid(), // the broker runs in this process
	}
}

// TestEndToEndQoS1 runs the 1-second fan-in scenario at QoS 1 against the
// real broker: messages flow, none is lost, duplicated or reordered.
func TestEndToEndQoS1(t *testing.T) {
	addr := startBroker(t)
	cfg := baseConfig(addr)
	cfg.scenario, cfg.qos, cfg.pubs, cfg.subs = "fanin", 1, 20, 1
	res, err := runTraffic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkClean(t, res)
	if res.BrokerCPUPercent == 0 && res.BrokerRSSBytes == 0 {
		t.Error("no broker process figures")
	}
}

func checkClean(t *testing.T, res *Result) {
	t.Helper()
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	if res.Received == 0 || res.MsgsPerSec <= 0 {
		t.Fatalf("nothing delivered: %+v", res)
	}
	if res.Sent*uint64(max(res.Subs/max(res.Pubs, 1), 1)) > res.Expected {
		t.Errorf("expected %d deliveries for %d sent", res.Expected, res.Sent)
	}
	if res.QoS > 0 && (res.Lost != 0 || res.Dups != 0 || res.OutOfOrder != 0 || res.Unacked != 0 || res.Received != res.Expected) {
		t.Errorf("QoS %d: lost %d dups %d ooo %d unacked %d, received %d of %d",
			res.QoS, res.Lost, res.Dups, res.OutOfOrder, res.Unacked, res.Received, res.Expected)
	}
	if res.Foreign != 0 {
		t.Errorf("%d foreign messages", res.Foreign)
	}
	if res.LatencyCount == 0 || res.LatencyP99US < res.LatencyP50US || res.LatencyMaxUS < res.LatencyP99US {
		t.Errorf("latency: %d samples, p50 %v p99 %v max %v", res.LatencyCount, res.LatencyP50US, res.LatencyP99US, res.LatencyMaxUS)
	}
}

// Every scenario, briefly, through the command line and -json.
func TestEndToEndScenarios(t *testing.T) {
	addr := startBroker(t)
	pid := strconv.Itoa(os.Getpid())
	for _, args := range [][]string{
		{"-scenario", "fanout", "-qos", "1", "-subs", "10", "-size", "1024"},
		{"-scenario", "pairs", "-qos", "1", "-pubs", "10", "-mqtt", "5"},
		{"-scenario", "pairs", "-qos", "0", "-pubs", "10"},
		{"-scenario", "latency", "-qos", "1", "-rate", "2000"},
		{"-scenario", "fanin", "-qos", "1", "-addr2", addr, "-pubs", "5"}, // "cross-node" onto one node
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			args = append(args, "-addr", addr, "-pid", pid, "-duration", "300ms", "-warmup", "100ms", "-json")
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			var res Result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("exit %d, output %q: %v (stderr %q)", code, out.String(), err, errOut.String())
			}
			if code != 0 {
				t.Fatalf("exit %d: %v", code, res.Errors)
			}
			checkClean(t, &res)
		})
	}
}

func TestEndToEndConns(t *testing.T) {
	addr := startBroker(t)
	cfg := baseConfig(addr)
	cfg.scenario, cfg.conns = "conns", 200
	res, err := runConns(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.ConnectsPerSec <= 0 || res.RSSAfterBytes == 0 || len(res.Errors) > 0 {
		t.Fatalf("conns: %+v", res)
	}
	var out bytes.Buffer
	if err := res.writeText(&out); err != nil || !strings.Contains(out.String(), "connects/s") {
		t.Fatalf("text report %q, %v", out.String(), err)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-scenario", "fanin"}, true},
		{[]string{"-scenario", "nope"}, false},
		{[]string{"-qos", "2"}, false},
		{[]string{"-size", "8"}, false},
		{[]string{"-mqtt", "3"}, false},
		{[]string{"-scenario", "pairs", "-subs", "3", "-pubs", "4"}, false},
		{[]string{"-scenario", "conns", "-conns", "0"}, false},
		{[]string{"extra"}, false},
	} {
		cfg, _, err := parseFlags(tc.args, &bytes.Buffer{})
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v, want ok=%v", tc.args, err, tc.ok)
		}
		if tc.ok && (cfg.pubs != 50 || cfg.subs != 1) {
			t.Errorf("%v: fanin defaults %d pubs %d subs", tc.args, cfg.pubs, cfg.subs)
		}
	}
	cfg, _, err := parseFlags([]string{"-scenario", "latency"}, &bytes.Buffer{})
	if err != nil || cfg.rate != 1000 || cfg.pubs != 1 || cfg.subs != 1 {
		t.Errorf("latency defaults: %+v, %v", cfg, err)
	}
}

// startHTTPBroker runs an in-process broker behind the HTTP transports
// (MQTT over WebSocket at /mqtt, Socket.IO at /socket.io/) and returns the
// HTTP address.
func startHTTPBroker(t *testing.T) string {
	t.Helper()
	srv, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := httpmux.New(httpmux.Options{NoPage: true})
	for name, l := range mux.Listeners() {
		go srv.Serve(l, name)
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		mux.Close()
	})
	return hs.Listener.Addr().String()
}

// The same QoS 1 checks over MQTT over WebSocket and over Socket.IO.
func TestEndToEndWebTransports(t *testing.T) {
	addr := startHTTPBroker(t)
	for _, tr := range []string{"ws", "socketio"} {
		t.Run(tr, func(t *testing.T) {
			args := []string{"-transport", tr, "-scenario", "fanin", "-pubs", "5", "-qos", "1", "-size", "200",
				"-addr", addr, "-duration", "300ms", "-warmup", "100ms", "-json"}
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			var res Result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("exit %d, output %q: %v (stderr %q)", code, out.String(), err, errOut.String())
			}
			if code != 0 {
				t.Fatalf("exit %d: %v", code, res.Errors)
			}
			checkClean(t, &res)
		})
	}
}
