package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// brokerBin is the mqttio binary TestMain builds.
var brokerBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mqttio-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	brokerBin = filepath.Join(dir, "mqttio")
	build := exec.Command("go", "build", "-o", brokerBin, "github.com/mqttio/mqttio/cmd/mqttio")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "interop: building cmd/mqttio:", err)
		return 1
	}
	return m.Run()
}

// broker is one mqttio process.
type broker struct {
	*proc
	dataDir string
	addr    string // 127.0.0.1:port of the TCP listener
	port    string
}

// startBroker starts mqttio on an ephemeral loopback port with dataDir
// ("" for a fresh one) and waits until its TCP listener is bound. Only
// the TCP listener is enabled. extra are more command-line flags.
func startBroker(t testing.TB, dataDir string, extra ...string) *broker {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	args := append([]string{
		"--node-id", "interop",
		"--data-dir", dataDir,
		"--listen-tcp", "127.0.0.1:0",
		"--listen-tls", "",
		"--listen-http", "",
		"--listen-https", "",
		"--listen-admin", "", // a fixed default port would collide between parallel tests
		"--log-format", "json",
		"--log-level", "info",
	}, extra...)
	b := &broker{proc: startProc(t, nil, nil, brokerBin, args...), dataDir: dataDir}
	deadline := time.Now().Add(waitTimeout)
	for b.addr == "" {
		l, err := b.errLine(time.Until(deadline))
		if err != nil {
			t.Fatalf("mqttio did not report a TCP listener (%v): %s\n%s", err, b.exitStatus(), b.errW.String())
		}
		var rec struct {
			Msg       string `json:"msg"`
			Transport string `json:"transport"`
			Address   string `json:"address"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "listening" && rec.Transport == "tcp" {
			b.addr = rec.Address
		}
	}
	_, b.port, _ = strings.Cut(b.addr, ":")
	return b
}

// Debian packages of the clients, named in failure messages.
const (
	pkgMosquitto = "mosquitto-clients"
	pkgPaho      = "python3-paho-mqtt"
	pkgNodeMQTT  = "node-mqtt"
	pkgNode      = "nodejs"
)

// python is the Debian interpreter: a python3 earlier on PATH (pyenv,
// virtualenv) does not see the packages under /usr/lib/python3.
const python = "/usr/bin/python3"

// nodePath lets a node that is not Debian's own (NodeSource's, say) find
// the modules Debian installs.
const nodePath = "NODE_PATH=/usr/share/nodejs:/usr/lib/nodejs"

var (
	checkMu sync.Mutex
	checked = map[string]error{}
)

// need fails the test unless the client check passes; checks run once.
func need(t testing.TB, what string) {
	t.Helper()
	checkMu.Lock()
	err, ok := checked[what]
	if !ok {
		err = check(what)
		checked[what] = err
	}
	checkMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

func check(what string) error {
	switch what {
	case "mosquitto":
		for _, c := range []string{"mosquitto_pub", "mosquitto_sub"} {
			if _, err := exec.LookPath(c); err != nil {
				return fmt.Errorf("%s not found: install the Debian package %s (%v)", c, pkgMosquitto, err)
			}
		}
		if _, err := exec.LookPath("stdbuf"); err != nil {
			return fmt.Errorf("stdbuf not found: install the Debian package coreutils (%v)", err)
		}
	case "paho":
		out, err := exec.Command(python, "-c", "import paho.mqtt; print(paho.mqtt.__version__)").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cannot import paho.mqtt: install the Debian packages python3 and %s (%v: %s)",
				python, pkgPaho, err, out)
		}
	case "node":
		if _, err := exec.LookPath("node"); err != nil {
			return fmt.Errorf("node not found: install the Debian packages %s and %s (%v)", pkgNode, pkgNodeMQTT, err)
		}
		cmd := exec.Command("node", "-e", "require('mqtt')")
		cmd.Env = append(os.Environ(), nodePath)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("node cannot require('mqtt'): install the Debian package %s (%v: %s)", pkgNodeMQTT, err, out)
		}
	default:
		return fmt.Errorf("unknown client %q", what)
	}
	return nil
}

// event is one JSON line of a client script (testdata/paho_client.py,
// testdata/mqtt_client.js).
type event struct {
	Event          string     `json:"event"`
	RC             int        `json:"rc"`
	SessionPresent bool       `json:"session_present"`
	Granted        []int      `json:"granted"`
	Topic          string     `json:"topic"`
	Payload        string     `json:"payload"`
	QoS            int        `json:"qos"`
	Retain         bool       `json:"retain"`
	Dup            bool       `json:"dup"`
	UserProperties [][]string `json:"user_properties"`
	ContentType    *string    `json:"content_type"`
	Error          string     `json:"error"`
	raw            string
}

func (e event) String() string { return e.raw }

func (e event) key() msgKey { return msgKey{e.Topic, e.Payload, e.QoS, e.Retain} }

// msgKey is what tests compare messages by.
type msgKey struct {
	Topic   string
	Payload string
	QoS     int
	Retain  bool
}

func (k msgKey) String() string {
	return fmt.Sprintf("{%s %q qos=%d retain=%v}", k.Topic, k.Payload, k.QoS, k.Retain)
}

// sameKeys fails the test unless got equals want, in order.
func sameKeys(t testing.TB, what string, got, want []msgKey) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// payloads returns prefix-1 ... prefix-n.
func payloads(prefix string, n int) []string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = fmt.Sprintf("%s-%d", prefix, i+1)
	}
	return ps
}
