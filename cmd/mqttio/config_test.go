package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mqttio/mqttio/broker"
)

func testHostname() (string, error) { return "testhost", nil }

// load runs Load with a fixed host name and no environment unless given.
func load(t *testing.T, file string, environ []string, flags ...Setting) (Config, error) {
	t.Helper()
	return Load(LoadOptions{File: file, Environ: environ, Flags: flags, Hostname: testHostname})
}

func mustLoad(t *testing.T, file string, environ []string, flags ...Setting) Config {
	t.Helper()
	c, err := load(t, file, environ, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func set(kv ...string) []Setting {
	var out []Setting
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Setting{Key: kv[i], Value: kv[i+1], Origin: "--set"})
	}
	return out
}

func writeYAML(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mqttio.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func defaultsFor(host string) Config {
	c := DefaultConfig()
	c.NodeID = host
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, "", nil)
	if !reflect.DeepEqual(c, defaultsFor("testhost")) {
		t.Fatalf("Load() = %+v, want the defaults", c)
	}
	if c.Listeners.TCP.Address != ":1883" || c.DataDir != "./data" || c.DBPath() != filepath.Join("data", "mqttio.db") {
		t.Fatalf("unexpected defaults: tcp %q data_dir %q db %q", c.Listeners.TCP.Address, c.DataDir, c.DBPath())
	}
	if c.Listeners.TLS.Enabled() || c.Listeners.HTTPS.Enabled() {
		t.Fatal("TLS listeners enabled without certificates")
	}

	// The real host name is the default node_id.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	c, err = Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeID != host {
		t.Fatalf("node_id = %q, want the host name %q", c.NodeID, host)
	}
	_, err = Load(LoadOptions{Hostname: func() (string, error) { return "", errors.New("no uts") }})
	if err == nil || !strings.Contains(err.Error(), "node_id") {
		t.Fatalf("unknown host name: err = %v", err)
	}
}

// The defaults, mapped back onto the broker, are the broker's defaults once
// both are normalised: a config that sets nothing changes nothing.
func TestDefaultsMatchBroker(t *testing.T) {
	got := defaultsFor("n1").BrokerOptions()
	want := broker.DefaultOptions
	check := func(name string, g, w any) {
		t.Helper()
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %v, broker default %v", name, g, w)
		}
	}
	check("MaxConnections", got.MaxConnections, want.MaxConnections)
	check("MaxPacketSize", got.MaxPacketSize, want.MaxPacketSize)
	check("ReceiveMaximum", got.ReceiveMaximum, want.ReceiveMaximum)
	check("MaxInflight", got.MaxInflight, want.MaxInflight)
	check("MaxQueuedMessages", got.MaxQueuedMessages, want.MaxQueuedMessages)
	check("QueueDropNewest", got.QueueDropNewest, want.QueueDropNewest)
	check("MaxTopicLevels", got.MaxTopicLevels, want.MaxTopicLevels)
	check("MaxKeepAlive", got.MaxKeepAlive, want.MaxKeepAlive)
	check("MaxSessionExpiry", got.MaxSessionExpiry, want.MaxSessionExpiry)
	check("TopicAliasMaximum", got.TopicAliasMaximum, want.TopicAliasMaximum)
	check("ConnectTimeout", got.ConnectTimeout, want.ConnectTimeout)
	check("SysInterval", got.SysInterval, want.SysInterval)
	check("RetainAvailable", *got.RetainAvailable, want.RetainAvailable == nil || *want.RetainAvailable)
	check("AllowZeroLengthIDs", *got.AllowZeroLengthIDs, want.AllowZeroLengthIDs == nil || *want.AllowZeroLengthIDs)
	if want.MaxQoS == 0 {
		check("MaxQoS", got.MaxQoS, 2) // Options: 0 means the default, 2
	} else {
		check("MaxQoS", got.MaxQoS, want.MaxQoS)
	}
}

func TestBrokerOptionsMapping(t *testing.T) {
	c := mustLoad(t, "", nil, set(
		"node_id", "node-7",
		"mqtt.max_connections", "500",
		"mqtt.max_packet_size", "64KB",
		"mqtt.receive_maximum", "10",
		"mqtt.max_inflight", "20",
		"mqtt.max_queued_messages", "30",
		"mqtt.queue_drop", "newest",
		"mqtt.max_topic_levels", "8",
		"mqtt.max_keepalive", "2m",
		"mqtt.max_session_expiry", "24h",
		"mqtt.topic_alias_maximum", "0",
		"mqtt.connect_timeout", "3s",
		"mqtt.retain_available", "false",
		"mqtt.max_qos", "0",
		"mqtt.sys_interval", "0s",
		"mqtt.allow_zero_length_client_id", "false",
	)...)
	o := c.BrokerOptions()
	f := false
	want := broker.Options{
		NodeID:             "node-7",
		MaxConnections:     500,
		MaxPacketSize:      64000,
		ReceiveMaximum:     10,
		MaxInflight:        20,
		MaxQueuedMessages:  30,
		QueueDropNewest:    true,
		MaxTopicLevels:     8,
		MaxKeepAlive:       2 * time.Minute,
		MaxSessionExpiry:   24 * time.Hour,
		TopicAliasMaximum:  -1, // 0 in the config: no aliases
		ConnectTimeout:     3 * time.Second,
		RetainAvailable:    &f,
		MaxQoS:             -1, // 0 in the config: QoS 0 only
		SysInterval:        -1, // 0 in the config: $SYS off
		AllowZeroLengthIDs: &f,
		MaxThrottle:        5 * time.Second,
		FlapWindow:         time.Minute,
		FlapBan:            5 * time.Minute,
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("BrokerOptions =\n%+v\nwant\n%+v", o, want)
	}
	c = mustLoad(t, "", nil, set("mqtt.max_qos", "1", "mqtt.queue_drop", "oldest", "mqtt.topic_alias_maximum", "65535")...)
	if o := c.BrokerOptions(); o.MaxQoS != 1 || o.QueueDropNewest || o.TopicAliasMaximum != 65535 {
		t.Fatalf("max_qos 1 → %d, queue_drop oldest → %v, aliases → %d", o.MaxQoS, !o.QueueDropNewest, o.TopicAliasMaximum)
	}
}

func TestFileLayer(t *testing.T) {
	p := writeYAML(t, `
node_id: edge-1
data_dir: /var/lib/mqttio
log:
  level: debug
listeners:
  tcp:
    address: ""          # disabled
  tls:
    address: 127.0.0.1:8883
    cert_file: /etc/mqttio/cert.pem
    key_file: /etc/mqttio/key.pem
    client_ca_file: /etc/mqttio/ca.pem
    client_auth: require
  http:
    cors_origins: [https://a.example, "http://b.example:8080"]
    cors_credentials: true
mqtt:
  max_packet_size: 256KiB
  max_keepalive: 90s
  retain_available: false
  max_inflight:          # null: keeps the default
`)
	c := mustLoad(t, p, nil)
	want := defaultsFor("edge-1")
	want.DataDir = "/var/lib/mqttio"
	want.Log.Level = "debug"
	want.Listeners.TCP.Address = ""
	want.Listeners.TLS = TLSListener{"127.0.0.1:8883", "/etc/mqttio/cert.pem", "/etc/mqttio/key.pem", "/etc/mqttio/ca.pem", "require"}
	want.Listeners.HTTP.CORSOrigins = []string{"https://a.example", "http://b.example:8080"}
	want.Listeners.HTTP.CORSCredentials = true
	want.MQTT.MaxPacketSize = 256 << 10
	want.MQTT.MaxKeepalive = 90 * time.Second
	want.MQTT.RetainAvailable = false
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
	if !c.Listeners.TLS.Enabled() {
		t.Fatal("TLS listener with certificate is not enabled")
	}

	for name, text := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n",
		"null sections": "log:\nmqtt:\n",
		"explicit null": "~\n",
	} {
		if c := mustLoad(t, writeYAML(t, text), nil); !reflect.DeepEqual(c, defaultsFor("testhost")) {
			t.Errorf("%s file: got %+v", name, c)
		}
	}

	// Anchors and aliases resolve.
	c = mustLoad(t, writeYAML(t, "data_dir: &d /srv/x\nlisteners:\n  tls:\n    cert_file: *d\n    key_file: *d\n"), nil)
	if c.Listeners.TLS.CertFile != "/srv/x" {
		t.Fatalf("alias: cert_file = %q", c.Listeners.TLS.CertFile)
	}

	if _, err := load(t, filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil ||
		!strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestEnvLayer(t *testing.T) {
	env := []string{
		"PATH=/usr/bin",
		"MQTTIOX_IGNORED=1", // another prefix
		"MQTTIO_MQTT_MAX_INFLIGHT=32",
		"MQTTIO_LISTENERS_TCP_ADDRESS=127.0.0.1:11883",
		"MQTTIO_LISTENERS_HTTP_CORS_ORIGINS=https://a.example, https://b.example",
		"MQTTIO_LISTENERS_TLS_ADDRESS=", // empty: disables
		"MQTTIO_LOG_FORMAT=json",
		"MQTTIO_MQTT_MAX_PACKET_SIZE=2048",
		"MQTTIO_SHUTDOWN_TIMEOUT=1m30s",
	}
	c := mustLoad(t, "", env)
	want := defaultsFor("testhost")
	want.MQTT.MaxInflight = 32
	want.Listeners.TCP.Address = "127.0.0.1:11883"
	want.Listeners.HTTP.CORSOrigins = []string{"https://a.example", "https://b.example"}
	want.Listeners.TLS.Address = ""
	want.Log.Format = "json"
	want.MQTT.MaxPacketSize = 2048
	want.ShutdownTimeout = 90 * time.Second
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestEnvNames(t *testing.T) {
	for key, env := range map[string]string{
		"node_id":                          "MQTTIO_NODE_ID",
		"mqtt.max_inflight":                "MQTTIO_MQTT_MAX_INFLIGHT",
		"listeners.tcp.address":            "MQTTIO_LISTENERS_TCP_ADDRESS",
		"listeners.tls.client_ca_file":     "MQTTIO_LISTENERS_TLS_CLIENT_CA_FILE",
		"mqtt.allow_zero_length_client_id": "MQTTIO_MQTT_ALLOW_ZERO_LENGTH_CLIENT_ID",
	} {
		if f := fieldByEnv[env]; f == nil || f.key != key {
			t.Errorf("%s does not map to %s", env, key)
		}
	}
	if len(fieldByEnv) != len(fields) || len(fieldByKey) != len(fields) {
		t.Fatalf("keys are not unique: %d fields, %d keys, %d env names", len(fields), len(fieldByKey), len(fieldByEnv))
	}
}

func TestFlagLayer(t *testing.T) {
	c := mustLoad(t, "", nil, set(
		"data_dir", "/a",
		"listeners.http.cors_origins", "",
		"mqtt.max_connections", "10",
		"data_dir", "/b", // the last one wins
	)...)
	if c.DataDir != "/b" || c.MQTT.MaxConnections != 10 || len(c.Listeners.HTTP.CORSOrigins) != 0 {
		t.Fatalf("got data_dir %q max_connections %d cors %q", c.DataDir, c.MQTT.MaxConnections, c.Listeners.HTTP.CORSOrigins)
	}
}

// Each layer overrides the ones before it, key by key.
func TestPrecedence(t *testing.T) {
	file := writeYAML(t, "data_dir: /from/file\nlog:\n  level: warn\nmqtt:\n  max_inflight: 10\n  max_qos: 1\n")
	env := []string{"MQTTIO_DATA_DIR=/from/env", "MQTTIO_MQTT_MAX_INFLIGHT=20", "MQTTIO_LOG_FORMAT=json"}
	flags := set("data_dir", "/from/flag")

	c := mustLoad(t, file, env, flags...)
	if c.DataDir != "/from/flag" || c.MQTT.MaxInflight != 20 || c.Log.Level != "warn" ||
		c.Log.Format != "json" || c.MQTT.MaxQoS != 1 || c.MQTT.ReceiveMaximum != 128 {
		t.Fatalf("all layers: %+v", c)
	}
	if c := mustLoad(t, file, env); c.DataDir != "/from/env" {
		t.Fatalf("file+env: data_dir %q", c.DataDir)
	}
	if c := mustLoad(t, file, nil); c.DataDir != "/from/file" || c.MQTT.MaxInflight != 10 {
		t.Fatalf("file: data_dir %q max_inflight %d", c.DataDir, c.MQTT.MaxInflight)
	}
	if c := mustLoad(t, "", env, flags...); c.MQTT.MaxInflight != 20 || c.MQTT.MaxQoS != 2 {
		t.Fatalf("env+flags: max_inflight %d max_qos %d", c.MQTT.MaxInflight, c.MQTT.MaxQoS)
	}
	// A flag may repair what the environment broke: validation runs on the
	// merged result only.
	if c := mustLoad(t, "", []string{"MQTTIO_MQTT_MAX_INFLIGHT=0"}, set("mqtt.max_inflight", "5")...); c.MQTT.MaxInflight != 5 {
		t.Fatalf("max_inflight %d", c.MQTT.MaxInflight)
	}
}

func TestUnknownKeys(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		env   []string
		flags []Setting
		want  string
	}{
		{name: "file top level", file: "nodeid: x\n", want: "config: nodeid: unknown key [from "},
		{name: "file nested", file: "mqtt:\n  max_inflght: 5\n", want: "config: mqtt.max_inflght: unknown key [from"},
		{name: "file suggestion", file: "mqtt:\n  max_inflght: 5\n", want: "(did you mean mqtt.max_inflight?)"},
		{name: "file line", file: "log:\n  level: info\n  colour: red\n", want: "line 3"},
		{name: "file unknown section", file: "clustr:\n  join: [a]\n", want: "config: clustr: unknown key"},
		{name: "file deep", file: "listeners:\n  tcp:\n    adress: x\n", want: "config: listeners.tcp.adress: unknown key"},
		{name: "file section as value", file: "log: debug\n", want: "config: log: must be a mapping"},
		{name: "file value as section", file: "data_dir:\n  path: x\n", want: "config: data_dir: must be a single value"},
		{name: "file list for scalar", file: "data_dir: [a, b]\n", want: "config: data_dir: must be a single value"},
		{name: "file scalar for list", file: "listeners:\n  http:\n    cors_origins: https://a.example\n", want: "config: listeners.http.cors_origins: must be a list"},
		{name: "file duplicate", file: "data_dir: a\ndata_dir: b\n", want: "config: data_dir: key given twice"},
		{name: "file top is a list", file: "- a\n", want: "top level must be a mapping"},
		{name: "file two documents", file: "data_dir: a\n---\ndata_dir: b\n", want: "only one YAML document"},
		{name: "file syntax", file: "mqtt:\n  max_inflight: [\n", want: "config: "},
		{name: "env", env: []string{"MQTTIO_MQTT_MAX_INFLGHT=5"}, want: "config: environment variable MQTTIO_MQTT_MAX_INFLGHT: no such key (did you mean mqtt.max_inflight?)"},
		{name: "env prefix only", env: []string{"MQTTIO_=1"}, want: "config: environment variable MQTTIO_: no such key"},
		{name: "env section", env: []string{"MQTTIO_MQTT=1"}, want: "environment variable MQTTIO_MQTT: no such key"},
		{name: "flag", flags: set("mqtt.maxinflight", "5"), want: "config: mqtt.maxinflight: unknown key [from --set] (did you mean mqtt.max_inflight?)"},
		{name: "flag section", flags: set("listeners.tcp", "x"), want: "config: listeners.tcp: unknown key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := ""
			if tc.file != "" {
				file = writeYAML(t, tc.file)
			}
			_, err := load(t, file, tc.env, tc.flags...)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestInvalidValues(t *testing.T) {
	cases := []struct {
		key, value, want string
	}{
		{"mqtt.max_inflight", "0", "config: mqtt.max_inflight: must be between 1 and 65535 (got 0) [from --set]"},
		{"mqtt.max_inflight", "65536", "must be between 1 and 65535 (got 65536)"},
		{"mqtt.max_inflight", "many", `config: mqtt.max_inflight: invalid integer "many" [from --set]`},
		{"mqtt.max_inflight", "1.5", `invalid integer "1.5"`},
		{"mqtt.receive_maximum", "0", "config: mqtt.receive_maximum: must be between 1 and 65535"},
		{"mqtt.max_connections", "-1", "config: mqtt.max_connections: must be between 0 and"},
		{"mqtt.max_queued_messages", "0", "config: mqtt.max_queued_messages: must be between 1 and"},
		{"mqtt.max_topic_levels", "0", "config: mqtt.max_topic_levels: must be between 1 and 65535"},
		{"mqtt.topic_alias_maximum", "70000", "config: mqtt.topic_alias_maximum: must be between 0 and 65535"},
		{"mqtt.max_qos", "3", "config: mqtt.max_qos: must be between 0 and 2 (got 3)"},
		{"mqtt.queue_drop", "random", `config: mqtt.queue_drop: must be one of oldest, newest (got "random")`},
		{"mqtt.max_packet_size", "10", "config: mqtt.max_packet_size: must be between 64 and 268435460 bytes (got 10)"},
		{"mqtt.max_packet_size", "1GiB", "config: mqtt.max_packet_size: must be between 64 and 268435460 bytes (got 1GiB)"},
		{"mqtt.max_packet_size", "1 MB?", `config: mqtt.max_packet_size: invalid size "1 MB?"`},
		{"mqtt.max_packet_size", "-5", `invalid size "-5"`},
		{"mqtt.connect_timeout", "10", `config: mqtt.connect_timeout: invalid duration "10"`},
		{"mqtt.connect_timeout", "0s", "config: mqtt.connect_timeout: must be positive (got 0s)"},
		{"mqtt.max_keepalive", "-1s", "config: mqtt.max_keepalive: must be between 0s and"},
		{"mqtt.max_keepalive", "24h", "config: mqtt.max_keepalive: must be between 0s and"},
		{"mqtt.max_session_expiry", "-1h", "config: mqtt.max_session_expiry: must be between"},
		{"mqtt.sys_interval", "-1s", "config: mqtt.sys_interval: must not be negative"},
		{"mqtt.sys_interval", "1ms", "config: mqtt.sys_interval: must be 0 (off) or at least 100ms"},
		{"mqtt.retain_available", "yes", `config: mqtt.retain_available: invalid boolean "yes"`},
		{"shutdown_timeout", "0s", "config: shutdown_timeout: must be positive"},
		{"node_id", "a/b", "config: node_id: must not contain"},
		{"node_id", "has space", "config: node_id: must not contain"},
		{"data_dir", "", "config: data_dir: must not be empty"},
		{"log.level", "verbose", `config: log.level: must be one of debug, info, warn, error (got "verbose")`},
		{"log.format", "xml", "config: log.format: must be one of text, json"},
		{"listeners.tcp.address", "1883", `config: listeners.tcp.address: must be host:port or :port (got "1883")`},
		{"listeners.tcp.address", ":http", "config: listeners.tcp.address: port must be a number"},
		{"listeners.tcp.address", ":70000", "config: listeners.tcp.address: port must be a number between 0 and 65535"},
		{"listeners.tls.address", "localhost", "config: listeners.tls.address: must be host:port"},
		{"listeners.http.address", "::1", "config: listeners.http.address: must be host:port"},
		{"listeners.https.address", "x:y", "config: listeners.https.address: port must be a number"},
		{"listeners.tls.cert_file", "c.pem", "config: listeners.tls.key_file: cert_file and key_file must be set together"},
		{"listeners.https.key_file", "k.pem", "config: listeners.https.key_file: cert_file and key_file must be set together"},
		{"listeners.tls.client_auth", "optional", `config: listeners.tls.client_auth: must be one of none, request, require (got "optional")`},
		{"listeners.tls.client_auth", "require", "config: listeners.tls.client_ca_file: must be set when client_auth is require"},
		{"listeners.http.cors_origins", "example.com", `config: listeners.http.cors_origins: items must be "*" or an origin`},
		{"listeners.http.cors_origins", "https://a.example/path", "config: listeners.http.cors_origins: items must be"},
		{"listeners.http.cors_credentials", "maybe", `invalid boolean "maybe"`},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, err := load(t, "", nil, set(tc.key, tc.value)...)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}

	// Cross-key rules, and the origin of a bad value in each layer.
	_, err := load(t, "", nil, set("listeners.http.cors_origins", "*", "listeners.http.cors_credentials", "true")...)
	if err == nil || !strings.Contains(err.Error(), "cannot be used with cors_credentials") {
		t.Fatalf("* with credentials: %v", err)
	}
	_, err = load(t, writeYAML(t, "mqtt:\n  max_qos: 7\n"), nil)
	if err == nil || !strings.HasSuffix(err.Error(), "(got 7) [from "+filepathInErr(err)+" line 2]") {
		t.Fatalf("file origin: %v", err)
	}
	_, err = load(t, writeYAML(t, "mqtt:\n  max_qos: high\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `config: mqtt.max_qos: invalid integer "high" [from `) {
		t.Fatalf("file parse error: %v", err)
	}
	_, err = load(t, "", []string{"MQTTIO_MQTT_MAX_INFLIGHT=0"})
	if err == nil || err.Error() != "config: mqtt.max_inflight: must be between 1 and 65535 (got 0) [from environment variable MQTTIO_MQTT_MAX_INFLIGHT]" {
		t.Fatalf("env origin: %v", err)
	}

	// Valid edge values pass.
	mustLoad(t, "", nil, set(
		"listeners.tcp.address", "[::1]:0",
		"listeners.http.cors_origins", "*",
		"listeners.tls.client_auth", "request",
		"listeners.tls.client_ca_file", "ca.pem",
		"mqtt.max_inflight", "65535",
		"mqtt.max_packet_size", "268435460",
		"mqtt.max_keepalive", "65535s",
		"mqtt.sys_interval", "0s",
	)...)
}

var fileInErr = regexp.MustCompile(`\[from (.*) line \d+\]`)

func filepathInErr(err error) string {
	if m := fileInErr.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return "?"
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0": 0, "1024": 1024, " 2048 ": 2048,
		"1B": 1, "64KB": 64000, "64kb": 64000, "1MB": 1000000, "2GB": 2000000000,
		"1KiB": 1024, "1MiB": 1 << 20, "1mib": 1 << 20, "4 GiB": 4 << 30,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-1", "1TB", "1 M", "0x10", "99999999999GiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for s, want := range map[Size]string{0: "0", 1000: "1000", 1024: "1KiB", 1 << 20: "1MiB", 3 << 30: "3GiB", 1536: "1536"} {
		if got := s.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), got, want)
		}
		if back, err := ParseSize(want); err != nil || back != s {
			t.Errorf("ParseSize(%q) = %d, %v", want, back, err)
		}
	}
}

// The example file loads strictly and gives exactly the defaults, holds
// every key, and every key is explained by a comment (its own, or its
// section's for the first key of a section).
func TestExampleFile(t *testing.T) {
	const path = "../../mqttio.example.yaml"
	c := mustLoad(t, path, nil)
	if !reflect.DeepEqual(c, defaultsFor("testhost")) {
		t.Fatalf("the example file does not hold the defaults:\n got %+v\nwant %+v", c, defaultsFor("testhost"))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	var walk func(prefix string, n *yaml.Node, sectionCommented bool)
	walk = func(prefix string, n *yaml.Node, sectionCommented bool) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			commented := k.HeadComment != "" || k.LineComment != "" || (i == 0 && sectionCommented)
			if v.Kind == yaml.MappingNode {
				walk(key+".", v, commented)
				continue
			}
			found[key] = true
			if !commented {
				t.Errorf("%s: no comment in the example file", key)
			}
		}
	}
	walk("", doc.Content[0], false)
	for _, k := range Keys() {
		if !found[k] {
			t.Errorf("%s: missing from the example file", k)
		}
	}
}

// docs/configuration.md has a table row for every key with its default.
func TestDocsListEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	def := DefaultConfig()
	for _, f := range fields {
		if !strings.Contains(doc, "| `"+f.key+"` |") {
			t.Errorf("%s: no row in docs/configuration.md", f.key)
			continue
		}
		if f.key == "node_id" {
			continue // the host name
		}
		want := f.format(&def)
		switch {
		case f.typ == stringSliceType && want == "":
			want = "[]"
		case want == "":
			want = `""`
		}
		if !strings.Contains(doc, "| `"+f.key+"` | `"+want+"` |") {
			t.Errorf("%s: docs/configuration.md does not give the default `%s`", f.key, want)
		}
	}
}

// What `mqttio config` prints loads back to the same configuration.
func TestMarshalRoundTrip(t *testing.T) {
	c := mustLoad(t, "", nil, set(
		"node_id", "rt",
		"listeners.http.cors_origins", "https://a.example,https://b.example",
		"listeners.tls.cert_file", "c.pem",
		"listeners.tls.key_file", "k # not a comment.pem",
		"mqtt.max_packet_size", "1000",
		"mqtt.max_session_expiry", "1h30m",
		"mqtt.retain_available", "false",
		"log.level", "debug",
	)...)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	back := mustLoad(t, writeYAML(t, buf.String()), nil)
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip:\n%s\ngot  %+v\nwant %+v", buf.String(), back, c)
	}
	if !reflect.DeepEqual(Keys()[:3], []string{"node_id", "data_dir", "shutdown_timeout"}) {
		t.Fatalf("Keys() starts %q", Keys()[:3])
	}
}
