// Command mqttio-bench is a raw MQTT 3.1.1 / 5.0 load generator for
// measuring brokers: mqttio, and the others beside it (bench/compare).
//
//	mqttio-bench -scenario fanin  -qos 1 -size 16 -pubs 100 -duration 10s -addr 127.0.0.1:1883 -pid 1234
//	mqttio-bench -scenario latency -qos 1 -rate 1000
//	mqttio-bench -scenario conns -conns 10000 -pid 1234
//	mqttio-bench -scenario pairs -addr node1:1883 -addr2 node2:1883   (cross-node)
//
// Scenarios:
//
//	fanin    many publishers (-pubs, default 50) → one topic → one subscriber
//	fanout   one publisher → one topic → many subscribers (-subs, default 100)
//	pairs    N publisher/subscriber pairs on distinct topics (-pubs, default 100)
//	latency  one pair at a fixed rate (-rate, default 1000 msg/s)
//	conns    open -conns idle connections: connects/s, broker RSS per connection
//
// Every payload carries the publisher's number, a sequence number and the
// send time, so that subscribers count loss, duplicates and reordering per
// publisher and measure latency. A publisher runs at most a bounded window
// ahead of its slowest subscriber (-window messages outstanding per
// subscriber, split among the publishers feeding it), so results do not
// hide unbounded queues and are comparable between brokers.
//
// Given the broker's -pid, the tool reads its CPU time (/proc/PID/stat)
// over the measured interval and reports it per delivered message, and its
// resident memory (/proc/PID/status).
//
// The tool is built to cost less than the broker: a few writer goroutines
// (-writers), each driving many publishers with big writes, and one reader
// per connection decoding with the zero-allocation codec; nothing is
// allocated per message.
//
// Exit status: 0 on success, 1 when the run reported errors (QoS 1 loss
// included; -json still prints the result), 2 for a bad command line.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, asJSON, err := parseFlags(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "mqttio-bench:", err)
		return 2
	}
	var res *Result
	if cfg.scenario == "conns" {
		res, err = runConns(cfg)
	} else {
		res, err = runTraffic(cfg)
	}
	if err != nil {
		if asJSON {
			// The driver still gets a result to show.
			res = &Result{Scenario: cfg.scenario, Addr: cfg.addr, QoS: int(cfg.qos), Size: cfg.size, Errors: []string{err.Error()}}
		} else {
			fmt.Fprintln(stderr, "mqttio-bench:", err)
			return 1
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(stderr, "mqttio-bench:", err)
			return 1
		}
	} else if err := res.writeText(stdout); err != nil {
		fmt.Fprintln(stderr, "mqttio-bench:", err)
		return 1
	}
	if len(res.Errors) > 0 {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, bool, error) {
	var (
		cfg     config
		qos     uint
		version uint
		asJSON  bool
	)
	fs := flag.NewFlagSet("mqttio-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.scenario, "scenario", "pairs", "fanin, fanout, pairs, latency or conns")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:1883", "broker `address` (publishers, and everything else)")
	fs.StringVar(&cfg.addr2, "addr2", "", "subscribers' broker `address` for cross-node runs (default: -addr)")
	fs.UintVar(&version, "mqtt", 4, "MQTT protocol level: 4 (3.1.1) or 5")
	fs.StringVar(&cfg.tr.kind, "transport", "tcp", "tcp, ws (MQTT over WebSocket) or socketio (MQTT.IO: Socket.IO v5 over Engine.IO v4 WebSocket)")
	fs.StringVar(&cfg.tr.path, "path", "", "HTTP path for ws and socketio (default /mqtt and /socket.io/?EIO=4&transport=websocket)")
	fs.UintVar(&qos, "qos", 0, "QoS of publishes and subscriptions: 0 or 1")
	fs.IntVar(&cfg.size, "size", 16, "payload `bytes` (at least 16: publisher, sequence, timestamp)")
	fs.IntVar(&cfg.pubs, "pubs", 0, "publishers (default: fanin 50, fanout 1, pairs 100, latency 1)")
	fs.IntVar(&cfg.subs, "subs", 0, "subscribers (default: fanin 1, fanout 100; pairs and latency: one per publisher)")
	fs.IntVar(&cfg.conns, "conns", 1000, "conns: idle connections to open")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured interval")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "traffic before the measured interval")
	fs.Float64Var(&cfg.rate, "rate", 0, "total publish rate in msg/s; 0: as fast as the window allows (latency default 1000)")
	fs.IntVar(&cfg.window, "window", 1000, "messages outstanding per subscriber, split among its publishers (Mosquitto drops QoS 1 beyond max_queued_messages 1000 + max_inflight_messages 20)")
	fs.IntVar(&cfg.writers, "writers", 4, "goroutines writing for the publishers")
	fs.IntVar(&cfg.pid, "pid", 0, "broker process id: report its CPU per message and RSS")
	fs.DurationVar(&cfg.drain, "drain", 2*time.Second, "after the run, wait this long without progress for outstanding messages")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "conns: wait before sampling the broker's RSS")
	fs.IntVar(&cfg.dialers, "dialers", 32, "goroutines opening connections")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "connect and subscribe timeout")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&cfg.verbose, "v", false, "list every publisher/subscriber stream that lost messages (stderr)")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg.qos = byte(qos)
	cfg.version = packet.Version(version)
	return cfg, asJSON, cfg.complete(set)
}

// complete fills in the scenario defaults and checks cfg. set names the
// flags given on the command line.
func (cfg *config) complete(set map[string]bool) error {
	if cfg.version != packet.V311 && cfg.version != packet.V5 {
		return fmt.Errorf("-mqtt %d: want 4 or 5", cfg.version)
	}
	switch cfg.tr.kind {
	case "tcp":
	case "ws":
		if cfg.tr.path == "" {
			cfg.tr.path = "/mqtt"
		}
	case "socketio":
		if cfg.tr.path == "" {
			cfg.tr.path = "/socket.io/?EIO=4&transport=websocket"
		}
	default:
		return fmt.Errorf("-transport %q: want tcp, ws or socketio", cfg.tr.kind)
	}
	if cfg.qos > 1 {
		return fmt.Errorf("-qos %d: want 0 or 1", cfg.qos)
	}
	if cfg.size < headerSize {
		return fmt.Errorf("-size %d: at least %d", cfg.size, headerSize)
	}
	if cfg.duration <= 0 || cfg.warmup < 0 || cfg.window < 1 || cfg.rate < 0 || cfg.dialers < 1 || cfg.timeout <= 0 {
		return fmt.Errorf("-duration, -window, -dialers and -timeout must be positive, -warmup and -rate not negative")
	}
	pubs, subs := cfg.pubs, cfg.subs
	switch cfg.scenario {
	case "fanin":
		pubs, subs = or(pubs, 50), or(subs, 1)
	case "fanout":
		pubs, subs = or(pubs, 1), or(subs, 100)
	case "pairs":
		pubs = or(pubs, 100)
		subs = pubs
	case "latency":
		pubs = or(pubs, 1)
		subs = pubs
		if !set["rate"] {
			cfg.rate = 1000
		}
	case "conns":
		if cfg.conns < 1 {
			return fmt.Errorf("-conns %d: want at least 1", cfg.conns)
		}
		return nil
	default:
		_, err := topology(cfg.scenario)
		return err
	}
	if set["subs"] && subs != cfg.subs {
		return fmt.Errorf("-subs: scenario %s has one subscriber per publisher", cfg.scenario)
	}
	if pubs < 1 || subs < 0 {
		return fmt.Errorf("-pubs %d -subs %d: want at least one publisher", pubs, subs)
	}
	cfg.pubs, cfg.subs = pubs, subs
	return nil
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
