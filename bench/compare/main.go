// Command compare runs every mqttio-bench scenario against mqttio and
// Mosquitto side by side and prints a table of medians (bench/compare.sh
// builds everything and runs it; `make bench-compare`).
//
// Both brokers run at the same time on loopback, each pinned to the same
// single core (-broker-cpu) and the load generator to another
// (-bench-cpu). Every scenario runs -reps times against each broker in
// alternation (mqttio, Mosquitto, mqttio, Mosquitto, ...), so slow drifts
// of the machine hit both alike; the table shows medians.
//
// The connection scenario opens -conns idle connections to a freshly
// started broker of each kind and reports the growth of its resident
// memory per connection.
//
// Then (-transports) two scenarios run against mqttio alone over each of
// its transports in alternation: TCP, MQTT over WebSocket (/mqtt) and
// MQTT.IO over Socket.IO (/socket.io/, Engine.IO v4 WebSocket).
//
// Mosquitto runs with its defaults and a generated configuration
// (listener, allow_anonymous, persistence off). mqttio gets Mosquitto's
// default queue limits (-mqttio-set): max_inflight 20 (Mosquitto's
// max_inflight_messages) and max_queued_messages 1000, so that neither
// broker is measured with deeper queues than the other.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

type options struct {
	mqttio, bench, mosquitto string
	reps                     int
	duration, warmup         time.Duration
	conns                    int
	brokerCPU, benchCPU      string
	only                     string
	outDir                   string
	mdFile                   string
	mqttioSet                string
	mosquittoExtra           string
	quick                    bool
	transports               bool
}

// scenario is one row of the table.
type scenario struct {
	name string
	args []string
}

func scenarios(conns int) []scenario {
	var s []scenario
	for _, kind := range []string{"fanin", "fanout", "pairs"} {
		for _, qos := range []string{"0", "1"} {
			for _, size := range []string{"16", "1024"} {
				label := size + "B"
				if size == "1024" {
					label = "1KB"
				}
				s = append(s, scenario{
					name: fmt.Sprintf("%s q%s %s", kind, qos, label),
					args: []string{"-scenario", kind, "-qos", qos, "-size", size},
				})
			}
		}
	}
	for _, qos := range []string{"0", "1"} {
		s = append(s, scenario{
			name: "latency q" + qos + " 16B @1000/s",
			args: []string{"-scenario", "latency", "-qos", qos, "-size", "16", "-rate", "1000"},
		})
	}
	s = append(s, scenario{
		name: fmt.Sprintf("conns %d idle", conns),
		args: []string{"-scenario", "conns", "-conns", strconv.Itoa(conns)},
	})
	return s
}

func main() {
	var o options
	flag.StringVar(&o.mqttio, "mqttio", "bin/mqttio", "mqttio binary")
	flag.StringVar(&o.bench, "bench", "bin/mqttio-bench", "mqttio-bench binary")
	flag.StringVar(&o.mosquitto, "mosquitto", "/usr/sbin/mosquitto", "mosquitto binary")
	flag.IntVar(&o.reps, "reps", 3, "runs of every scenario against each broker")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured interval of each run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up of each run")
	flag.IntVar(&o.conns, "conns", 10000, "idle connections of the conns scenario")
	flag.StringVar(&o.brokerCPU, "broker-cpu", "0", "taskset CPU list of the brokers (\"\": no pinning)")
	flag.StringVar(&o.benchCPU, "bench-cpu", "1", "taskset CPU list of the load generator (\"\": no pinning)")
	flag.StringVar(&o.only, "only", "", "run only the scenarios whose name contains one of these comma-separated words")
	flag.StringVar(&o.outDir, "out", "", "directory for logs and raw results (default: a new temporary directory)")
	flag.StringVar(&o.mdFile, "md", "", "also write the report as Markdown to this file")
	flag.StringVar(&o.mqttioSet, "mqttio-set", "mqtt.max_inflight=20,mqtt.max_queued_messages=1000", "comma-separated --set key=value for mqttio")
	flag.StringVar(&o.mosquittoExtra, "mosquitto-conf", "", "extra lines for the Mosquitto configuration (\\n-separated)")
	flag.BoolVar(&o.quick, "quick", os.Getenv("QUICK") == "1", "one run of 1 s per scenario and broker (also QUICK=1)")
	flag.BoolVar(&o.transports, "transports", true, "also compare mqttio's transports: TCP, WebSocket, Socket.IO")
	flag.Parse()
	if o.quick {
		o.reps, o.duration, o.warmup = 1, time.Second, 500*time.Millisecond
	}
	if err := runAll(o); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// result is the part of mqttio-bench -json the table uses.
type result struct {
	MsgsPerSec        float64  `json:"msgs_per_sec"`
	Expected          uint64   `json:"expected"`
	Lost              uint64   `json:"lost"`
	LatencyP50US      float64  `json:"latency_p50_us"`
	LatencyP99US      float64  `json:"latency_p99_us"`
	LatencyMaxUS      float64  `json:"latency_max_us"`
	BrokerCPUUSPerMsg float64  `json:"broker_cpu_us_per_msg"`
	BrokerCPUPercent  float64  `json:"broker_cpu_percent"`
	ConnectsPerSec    float64  `json:"connects_per_sec"`
	RSSPerConnBytes   float64  `json:"rss_per_conn_bytes"`
	Stalls            uint64   `json:"stalls"`
	Errors            []string `json:"errors"`
}

type rawRecord struct {
	Scenario string          `json:"scenario"`
	Broker   string          `json:"broker"`
	Rep      int             `json:"rep"`
	Args     []string        `json:"args"`
	Result   json.RawMessage `json:"result"`
}

func runAll(o options) error {
	if o.outDir == "" {
		d, err := os.MkdirTemp("", "mqttio-compare-")
		if err != nil {
			return err
		}
		o.outDir = d
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return err
	}
	for _, bin := range []string{o.mqttio, o.bench, o.mosquitto} {
		if _, err := os.Stat(bin); err != nil {
			return err
		}
	}
	raw, err := os.Create(filepath.Join(o.outDir, "results.jsonl"))
	if err != nil {
		return err
	}
	defer raw.Close()

	started := time.Now()
	meta := machine()
	meta.loadBefore = loadavg()
	fmt.Printf("mqttio vs Mosquitto: %d rep(s) × %v (+%v warm-up) per scenario; logs in %s\n", o.reps, o.duration, o.warmup, o.outDir)
	fmt.Printf("machine: %s; load average %s\n\n", meta.summary(), meta.loadBefore)

	all := scenarios(o.conns)
	var sel []scenario
	for _, s := range all {
		if o.only == "" || matches(s.name, o.only) {
			sel = append(sel, s)
		}
	}

	brokers := []*broker{
		{name: "mqttio", kind: "mqttio"},
		{name: "mosquitto", kind: "mosquitto"},
	}
	defer func() {
		for _, b := range brokers {
			b.stop()
		}
	}()
	rows := make([]row, 0, len(sel))
	for _, s := range sel {
		r := row{name: s.name, res: map[string][]result{}}
		isConns := s.args[1] == "conns"
		for rep := 1; rep <= o.reps; rep++ {
			for _, b := range brokers {
				if isConns {
					b.stop() // a fresh process: memory figures start from a clean heap
				}
				if !b.running() {
					if err := b.start(o); err != nil {
						return err
					}
				}
				res, rawJSON, err := runBench(o, b, s, "tcp")
				if err != nil {
					return err
				}
				enc, _ := json.Marshal(rawRecord{Scenario: s.name, Broker: b.name, Rep: rep, Args: s.args, Result: rawJSON})
				raw.Write(append(enc, '\n'))
				r.res[b.name] = append(r.res[b.name], res)
				fmt.Printf("  %-26s %-9s rep %d: %s\n", s.name, b.name, rep, brief(res, isConns))
				if isConns {
					b.stop()
				}
			}
		}
		rows = append(rows, r)
	}

	// mqttio's own transports, in alternation: TCP, WebSocket, Socket.IO.
	var trRows []row
	if o.transports {
		mq := brokers[0]
		for _, s := range transportScenarios() {
			if o.only != "" && !matches(s.name, o.only) {
				continue
			}
			r := row{name: s.name, res: map[string][]result{}}
			for rep := 1; rep <= o.reps; rep++ {
				for _, tr := range transportNames {
					if !mq.running() {
						if err := mq.start(o); err != nil {
							return err
						}
					}
					res, rawJSON, err := runBench(o, mq, s, tr)
					if err != nil {
						return err
					}
					enc, _ := json.Marshal(rawRecord{Scenario: s.name, Broker: "mqttio/" + tr, Rep: rep, Args: s.args, Result: rawJSON})
					raw.Write(append(enc, '\n'))
					r.res[tr] = append(r.res[tr], res)
					fmt.Printf("  %-26s %-9s rep %d: %s\n", s.name, tr, rep, brief(res, false))
				}
			}
			trRows = append(trRows, r)
		}
	}
	meta.loadAfter = loadavg()
	meta.elapsed = time.Since(started)

	var report bytes.Buffer
	writeReport(&report, o, meta, rows, trRows)
	fmt.Println()
	os.Stdout.Write(report.Bytes())
	if err := os.WriteFile(filepath.Join(o.outDir, "report.md"), report.Bytes(), 0o644); err != nil {
		return err
	}
	if o.mdFile != "" {
		if err := os.WriteFile(o.mdFile, report.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func matches(name, only string) bool {
	for _, w := range strings.Split(only, ",") {
		if w = strings.TrimSpace(w); w != "" && strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func brief(r result, conns bool) string {
	var s string
	if conns {
		s = fmt.Sprintf("%.0f connects/s, %.0f B/conn", r.ConnectsPerSec, r.RSSPerConnBytes)
	} else {
		s = fmt.Sprintf("%.0f msg/s, %.2f µs/msg, p99 %.0f µs, lost %d/%d, stalls %d",
			r.MsgsPerSec, r.BrokerCPUUSPerMsg, r.LatencyP99US, r.Lost, r.Expected, r.Stalls)
	}
	if len(r.Errors) > 0 {
		s += "  ERRORS: " + strings.Join(r.Errors, "; ")
	}
	return s
}

// broker is one broker process.
type broker struct {
	name, kind string
	cmd        *exec.Cmd
	addr       string
	httpAddr   string // mqttio: WebSocket (/mqtt) and Socket.IO (/socket.io/)
	dir        string
	log        *os.File
	done       chan struct{}
	starts     int
}

func taskset(cpus string, argv ...string) []string {
	if cpus == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpus}, argv...)
}

func (b *broker) start(o options) error {
	b.starts++
	port, err := freePort()
	if err != nil {
		return err
	}
	b.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	b.dir = filepath.Join(o.outDir, fmt.Sprintf("%s-%d", b.name, b.starts))
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	var argv []string
	switch b.kind {
	case "mqttio":
		hp, err := freePort()
		if err != nil {
			return err
		}
		b.httpAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
		argv = []string{o.mqttio, "--data-dir", filepath.Join(b.dir, "data"), "--listen-tcp", b.addr,
			"--listen-tls", "", "--listen-http", b.httpAddr, "--listen-https", "", "--listen-admin", "",
			"--log-level", "warn"}
		for _, kv := range strings.Split(o.mqttioSet, ",") {
			if kv = strings.TrimSpace(kv); kv != "" {
				argv = append(argv, "--set", kv)
			}
		}
	case "mosquitto":
		conf := filepath.Join(b.dir, "mosquitto.conf")
		text := fmt.Sprintf("# generated by bench/compare\nlistener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port)
		if o.mosquittoExtra != "" {
			text += strings.ReplaceAll(o.mosquittoExtra, `\n`, "\n") + "\n"
		}
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return err
		}
		argv = []string{o.mosquitto, "-c", conf}
	}
	argv = taskset(o.brokerCPU, argv...)
	b.log, err = os.Create(filepath.Join(b.dir, "log"))
	if err != nil {
		return err
	}
	b.cmd = exec.Command(argv[0], argv[1:]...)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	b.done = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.done) }()
	// taskset execs the broker, so the pid is the broker's.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-b.done:
			return fmt.Errorf("%s exited at start; see %s", b.name, b.log.Name())
		default:
		}
		if time.Now().After(deadline) {
			b.stop()
			return fmt.Errorf("%s does not listen on %s; see %s", b.name, b.addr, b.log.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *broker) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.done:
		fmt.Fprintf(os.Stderr, "compare: %s exited (%v); restarting it, see %s\n", b.name, b.cmd.ProcessState, b.log.Name())
		return false
	default:
		return true
	}
}

func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.log.Close()
	b.cmd = nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// transportNames are mqttio-bench's -transport values.
var transportNames = []string{"tcp", "ws", "socketio"}

// transportScenarios are run against mqttio over each transport.
func transportScenarios() []scenario {
	return []scenario{
		{name: "pairs q0 16B", args: []string{"-scenario", "pairs", "-qos", "0", "-size", "16"}},
		{name: "fanin q1 16B", args: []string{"-scenario", "fanin", "-qos", "1", "-size", "16"}},
	}
}

func runBench(o options, b *broker, s scenario, tr string) (result, json.RawMessage, error) {
	addr := b.addr
	if tr != "tcp" {
		addr = b.httpAddr
	}
	args := []string{o.bench, "-json", "-addr", addr, "-pid", strconv.Itoa(b.cmd.Process.Pid),
		"-duration", o.duration.String(), "-warmup", o.warmup.String(), "-transport", tr}
	args = append(args, s.args...)
	argv := taskset(o.benchCPU, args...)
	limit := o.duration + o.warmup + 90*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return result{}, nil, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	var r result
	if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
		return result{}, nil, fmt.Errorf("%s: %v (exit %v)\nstdout: %s\nstderr: %s", strings.Join(argv, " "), jerr, err, stdout.String(), stderr.String())
	}
	return r, json.RawMessage(bytes.TrimSpace(stdout.Bytes())), nil
}

// mdTable writes a Markdown table, numbers right-aligned, padded so that
// it also reads well as plain text.
func mdTable(w io.Writer, header []string, rows [][]string) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string, left bool) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 || left {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header, true)
	sep := make([]string, len(header))
	for i := range sep {
		if i == 0 {
			sep[i] = strings.Repeat("-", width[i])
		} else {
			sep[i] = strings.Repeat("-", width[i]-1) + ":"
		}
	}
	line(sep, true)
	for _, r := range rows {
		line(r, false)
	}
}

// row is one scenario's results per broker.
type row struct {
	name string
	res  map[string][]result
}

func median(rs []result, f func(result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func lost(rs []result) string {
	var l, e uint64
	errs := 0
	for _, r := range rs {
		l += r.Lost
		e += r.Expected
		if len(r.Errors) > 0 {
			errs++
		}
	}
	s := "0"
	if l > 0 {
		s = fmt.Sprintf("%d (%.2f%%)", l, 100*float64(l)/float64(max(e, 1)))
	}
	if errs > 0 {
		s += fmt.Sprintf(" [%d run(s) with errors]", errs)
	}
	return s
}

type machineInfo struct {
	nproc                 int
	cpu, kernel, goVer    string
	loadBefore, loadAfter string
	elapsed               time.Duration
}

func machine() machineInfo {
	m := machineInfo{nproc: runtime.NumCPU(), goVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (m machineInfo) summary() string {
	return fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s", m.nproc, m.cpu, m.kernel, m.goVer)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func mosquittoVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

func extraNote(extra string) string {
	if extra == "" {
		return ""
	}
	return "; " + strings.ReplaceAll(extra, `\n`, "; ")
}

func writeReport(w io.Writer, o options, m machineInfo, rows, trRows []row) {
	mode := "full"
	if o.quick {
		mode = "QUICK"
	}
	fmt.Fprintf(w, "mqttio vs Mosquitto, %s mode: %d rep(s) × %v measured + %v warm-up per scenario and broker, medians.\n\n", mode, o.reps, o.duration, o.warmup)
	fmt.Fprintf(w, "- machine: %s\n", m.summary())
	fmt.Fprintf(w, "- %s (generated config: listener, allow_anonymous true, persistence false%s); mqttio --set %s\n",
		mosquittoVersion(o.mosquitto), strings.ReplaceAll(extraNote(o.mosquittoExtra), "\n", "; "), o.mqttioSet)
	fmt.Fprintf(w, "- pinning: brokers `taskset -c %s`, generator `taskset -c %s`\n", o.brokerCPU, o.benchCPU)
	fmt.Fprintf(w, "- driver: `%s`; each run: `taskset -c %s %s -json -addr ADDR -pid PID -duration %v -warmup %v` + the scenario's flags (raw results: results.jsonl)\n",
		strings.Join(os.Args, " "), o.benchCPU, o.bench, o.duration, o.warmup)
	fmt.Fprintf(w, "- load average (1, 5, 15 min): %s before, %s after; the run took %v\n\n", m.loadBefore, m.loadAfter, m.elapsed.Round(time.Second))

	var tab [][]string
	var conns []row
	for _, r := range rows {
		a, b := r.res["mqttio"], r.res["mosquitto"]
		if strings.HasPrefix(r.name, "conns") {
			conns = append(conns, r)
			continue
		}
		ma := median(a, func(r result) float64 { return r.MsgsPerSec })
		mb := median(b, func(r result) float64 { return r.MsgsPerSec })
		ratio := "-"
		if mb > 0 {
			ratio = fmt.Sprintf("%.2f×", ma/mb)
		}
		tab = append(tab, []string{r.name,
			fmt.Sprintf("%.0f", ma), fmt.Sprintf("%.0f", mb), ratio,
			fmt.Sprintf("%.2f", median(a, func(r result) float64 { return r.BrokerCPUUSPerMsg })),
			fmt.Sprintf("%.2f", median(b, func(r result) float64 { return r.BrokerCPUUSPerMsg })),
			fmt.Sprintf("%.0f", median(a, func(r result) float64 { return r.LatencyP99US })),
			fmt.Sprintf("%.0f", median(b, func(r result) float64 { return r.LatencyP99US })),
			lost(a), lost(b)})
	}
	if len(tab) > 0 {
		mdTable(w, []string{"scenario", "mqttio msg/s", "mosquitto msg/s", "ratio", "mqttio CPU µs/msg", "mosquitto CPU µs/msg",
			"mqttio p99 µs", "mosquitto p99 µs", "mqttio lost", "mosquitto lost"}, tab)
	}
	if len(conns) > 0 {
		fmt.Fprintln(w)
		tab = tab[:0]
		for _, r := range conns {
			a, b := r.res["mqttio"], r.res["mosquitto"]
			tab = append(tab, []string{r.name,
				fmt.Sprintf("%.0f", median(a, func(r result) float64 { return r.RSSPerConnBytes })),
				fmt.Sprintf("%.0f", median(b, func(r result) float64 { return r.RSSPerConnBytes })),
				fmt.Sprintf("%.0f", median(a, func(r result) float64 { return r.ConnectsPerSec })),
				fmt.Sprintf("%.0f", median(b, func(r result) float64 { return r.ConnectsPerSec }))})
		}
		mdTable(w, []string{"scenario", "mqttio RSS B/conn", "mosquitto RSS B/conn", "mqttio connects/s", "mosquitto connects/s"}, tab)
	}
	if len(trRows) > 0 {
		fmt.Fprintln(w)
		tab = tab[:0]
		for _, r := range trRows {
			msgs := func(tr string) float64 { return median(r.res[tr], func(r result) float64 { return r.MsgsPerSec }) }
			cpu := func(tr string) string {
				return fmt.Sprintf("%.2f", median(r.res[tr], func(r result) float64 { return r.BrokerCPUUSPerMsg }))
			}
			ratio := func(tr string) string {
				if msgs("tcp") == 0 {
					return "-"
				}
				return fmt.Sprintf("%.2f", msgs(tr)/msgs("tcp"))
			}
			tab = append(tab, []string{r.name,
				fmt.Sprintf("%.0f", msgs("tcp")), fmt.Sprintf("%.0f", msgs("ws")), fmt.Sprintf("%.0f", msgs("socketio")),
				ratio("ws"), ratio("socketio"), cpu("tcp"), cpu("ws"), cpu("socketio"), lost(r.res["ws"]), lost(r.res["socketio"])})
		}
		mdTable(w, []string{"mqttio transports", "TCP msg/s", "WebSocket msg/s", "Socket.IO msg/s", "WS/TCP", "Socket.IO/TCP",
			"TCP µs/msg", "WS µs/msg", "Socket.IO µs/msg", "WS lost", "Socket.IO lost"}, tab)
	}
	var errs []string
	rows = append(rows[:len(rows):len(rows)], trRows...)
	for _, r := range rows {
		for _, name := range []string{"mqttio", "mosquitto", "tcp", "ws", "socketio"} {
			for i, res := range r.res[name] {
				for _, e := range res.Errors {
					errs = append(errs, fmt.Sprintf("%s, %s rep %d: %s", r.name, name, i+1, e))
				}
			}
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nErrors reported by mqttio-bench:\n\n")
		for _, e := range errs {
			fmt.Fprintf(w, "- %s\n", e)
		}
	}
}
