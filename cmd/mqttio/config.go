package main

// Configuration is merged from layers, later ones winning:
//
//	built-in defaults → YAML file (--config) → MQTTIO_* environment → flags
//
// Every layer names keys the same way: the snake_case path of a field, dots
// between levels ("mqtt.max_inflight"). The environment uses the upper-case
// path with "_" for the dots (MQTTIO_MQTT_MAX_INFLIGHT). The key table is
// derived from the Config struct by reflection (the `cfg` tags), so a field
// added to Config is at once a YAML key, an environment variable and a
// --set key; the tests make sure the example file and docs list it too.
//
// A key no layer knows and a value that does not parse or validate stop the
// start-up with an error that names the key and where the value came from.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/mqttio/mqttio/broker"
)

// envPrefix starts every environment variable the configuration reads.
const envPrefix = "MQTTIO_"

// Config is the merged configuration of one node. Load returns it by value;
// treat it as read-only once loaded.
type Config struct {
	NodeID          string          `cfg:"node_id"`
	DataDir         string          `cfg:"data_dir"`
	ShutdownTimeout time.Duration   `cfg:"shutdown_timeout"`
	Log             LogConfig       `cfg:"log"`
	Listeners       ListenersConfig `cfg:"listeners"`
	MQTT            MQTTConfig      `cfg:"mqtt"`
	Auth            AuthConfig      `cfg:"auth"`
	Admin           AdminConfig     `cfg:"admin"`
	Cluster         ClusterConfig   `cfg:"cluster"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `cfg:"level"`  // debug, info, warn, error
	Format string `cfg:"format"` // text, json
}

// ListenersConfig lists the sockets a node serves. An empty address
// disables a listener.
type ListenersConfig struct {
	TCP   TCPListener   `cfg:"tcp"`
	TLS   TLSListener   `cfg:"tls"`
	HTTP  HTTPListener  `cfg:"http"`
	HTTPS HTTPSListener `cfg:"https"`
}

// TCPListener is MQTT over plain TCP.
type TCPListener struct {
	Address string `cfg:"address"`
}

// TLSListener is MQTT over TLS, optionally with client certificates (mTLS).
type TLSListener struct {
	Address      string `cfg:"address"`
	CertFile     string `cfg:"cert_file"`
	KeyFile      string `cfg:"key_file"`
	ClientCAFile string `cfg:"client_ca_file"`
	ClientAuth   string `cfg:"client_auth"` // none, request, require
}

// Enabled reports whether the TLS listener is to be started: it has an
// address and a certificate.
func (l TLSListener) Enabled() bool { return l.Address != "" && l.CertFile != "" && l.KeyFile != "" }

// HTTPListener serves the browser transports (WebSocket, Socket.IO,
// Engine.IO) over plain HTTP.
type HTTPListener struct {
	Address         string   `cfg:"address"`
	CORSOrigins     []string `cfg:"cors_origins"`
	CORSCredentials bool     `cfg:"cors_credentials"`
}

// HTTPSListener serves the browser transports over HTTPS. It shares the
// CORS settings of HTTPListener.
type HTTPSListener struct {
	Address  string `cfg:"address"`
	CertFile string `cfg:"cert_file"`
	KeyFile  string `cfg:"key_file"`
}

// Enabled reports whether the HTTPS listener is to be started.
func (l HTTPSListener) Enabled() bool {
	return l.Address != "" && l.CertFile != "" && l.KeyFile != ""
}

// MQTTConfig holds the protocol limits; see BrokerOptions for the mapping.
type MQTTConfig struct {
	MaxConnections          int           `cfg:"max_connections"`
	MaxPacketSize           Size          `cfg:"max_packet_size"`
	ReceiveMaximum          int           `cfg:"receive_maximum"`
	MaxInflight             int           `cfg:"max_inflight"`
	MaxQueuedMessages       int           `cfg:"max_queued_messages"`
	QueueDrop               string        `cfg:"queue_drop"` // oldest, newest
	MaxTopicLevels          int           `cfg:"max_topic_levels"`
	MaxKeepalive            time.Duration `cfg:"max_keepalive"`
	MaxSessionExpiry        time.Duration `cfg:"max_session_expiry"`
	TopicAliasMaximum       int           `cfg:"topic_alias_maximum"`
	ConnectTimeout          time.Duration `cfg:"connect_timeout"`
	RetainAvailable         bool          `cfg:"retain_available"`
	MaxQoS                  int           `cfg:"max_qos"`
	SysInterval             time.Duration `cfg:"sys_interval"`
	AllowZeroLengthClientID bool          `cfg:"allow_zero_length_client_id"`
	MaxMessageRate          int           `cfg:"max_message_rate"`    // PUBLISH/s per client, 0 off
	MaxByteRate             Size          `cfg:"max_byte_rate"`       // PUBLISH bytes/s per client, 0 off
	MaxThrottle             time.Duration `cfg:"max_throttle"`        // slowed this long, then disconnected
	MaxConnectionRate       int           `cfg:"max_connection_rate"` // CONNECTs/s per node, 0 off
	FlapThreshold           int           `cfg:"flap_threshold"`      // CONNECTs of one id per flap_window, 0 off
	FlapWindow              time.Duration `cfg:"flap_window"`
	FlapBan                 time.Duration `cfg:"flap_ban"`
}

// AuthConfig is authentication and authorization (package auth; the file
// formats are in docs/operations.md).
type AuthConfig struct {
	PasswordFile string `cfg:"password_file"`
	ACLFile      string `cfg:"acl_file"`
	// AllowAnonymous is "auto" (true without a password file, false with
	// one), "true" or "false"; see Config.AnonymousAllowed.
	AllowAnonymous      string        `cfg:"allow_anonymous"`
	UseCertCNAsUsername bool          `cfg:"use_cert_cn_as_username"`
	CacheTTL            time.Duration `cfg:"cache_ttl"`
}

// AdminConfig is the admin HTTP listener (package admin).
type AdminConfig struct {
	Address   string `cfg:"address"`
	Token     string `cfg:"token" secret:"true"`
	TokenFile string `cfg:"token_file"`
}

// AnonymousAllowed resolves auth.allow_anonymous: "auto" admits clients
// without a username only when there is no password file.
func (c Config) AnonymousAllowed() bool {
	switch c.Auth.AllowAnonymous {
	case "true":
		return true
	case "false":
		return false
	}
	return c.Auth.PasswordFile == ""
}

// AuthEnabled reports whether the node needs an authorizer at all: with
// none, the broker skips every check.
func (c Config) AuthEnabled() bool {
	return c.Auth.PasswordFile != "" || c.Auth.ACLFile != "" || !c.AnonymousAllowed() || c.Auth.UseCertCNAsUsername
}

// redacted is what `mqttio config` prints for a secret that is set.
const redacted = "<redacted>"

// DefaultConfig returns the built-in defaults. The MQTT limits are those of
// broker.DefaultOptions, so the two cannot drift apart. NodeID is left
// empty: Load fills in the host name.
func DefaultConfig() Config {
	d := broker.DefaultOptions
	queueDrop := "oldest"
	if d.QueueDropNewest {
		queueDrop = "newest"
	}
	maxQoS := d.MaxQoS
	switch {
	case maxQoS == 0:
		maxQoS = 2
	case maxQoS < 0:
		maxQoS = 0
	}
	sys := d.SysInterval
	if sys < 0 {
		sys = 0
	}
	return Config{
		DataDir:         "./data",
		ShutdownTimeout: 10 * time.Second,
		Log:             LogConfig{Level: "info", Format: "text"},
		Listeners: ListenersConfig{
			TCP:   TCPListener{Address: ":1883"},
			TLS:   TLSListener{Address: ":8883", ClientAuth: "none"},
			HTTP:  HTTPListener{Address: ":8080", CORSOrigins: []string{}},
			HTTPS: HTTPSListener{Address: ":8443"},
		},
		MQTT: MQTTConfig{
			MaxConnections:          d.MaxConnections,
			MaxPacketSize:           Size(d.MaxPacketSize),
			ReceiveMaximum:          d.ReceiveMaximum,
			MaxInflight:             d.MaxInflight,
			MaxQueuedMessages:       d.MaxQueuedMessages,
			QueueDrop:               queueDrop,
			MaxTopicLevels:          d.MaxTopicLevels,
			MaxKeepalive:            d.MaxKeepAlive,
			MaxSessionExpiry:        d.MaxSessionExpiry,
			TopicAliasMaximum:       max(d.TopicAliasMaximum, 0),
			ConnectTimeout:          d.ConnectTimeout,
			RetainAvailable:         d.RetainAvailable == nil || *d.RetainAvailable,
			MaxQoS:                  maxQoS,
			SysInterval:             sys,
			AllowZeroLengthClientID: d.AllowZeroLengthIDs == nil || *d.AllowZeroLengthIDs,
			MaxThrottle:             5 * time.Second,
			FlapWindow:              time.Minute,
			FlapBan:                 5 * time.Minute,
		},
		Auth:    AuthConfig{AllowAnonymous: "auto", CacheTTL: 2 * time.Minute},
		Admin:   AdminConfig{Address: "127.0.0.1:8081"},
		Cluster: defaultClusterConfig(),
	}
}

// BrokerOptions maps the configuration onto the broker core. Version,
// Logger, Store, Auth and Cluster are the caller's to set.
func (c Config) BrokerOptions() broker.Options {
	retain := c.MQTT.RetainAvailable
	zeroIDs := c.MQTT.AllowZeroLengthClientID
	maxQoS := c.MQTT.MaxQoS
	if maxQoS == 0 {
		maxQoS = -1 // Options: 0 means "default" (2), -1 means QoS 0 only
	}
	sys := c.MQTT.SysInterval
	if sys == 0 {
		sys = -1 // Options: 0 means "default", negative disables
	}
	aliases := c.MQTT.TopicAliasMaximum
	if aliases == 0 {
		aliases = -1 // Options: 0 means "default", negative means none
	}
	return broker.Options{
		NodeID:             c.NodeID,
		MaxConnections:     c.MQTT.MaxConnections,
		MaxPacketSize:      int(c.MQTT.MaxPacketSize),
		ReceiveMaximum:     c.MQTT.ReceiveMaximum,
		MaxInflight:        c.MQTT.MaxInflight,
		MaxQueuedMessages:  c.MQTT.MaxQueuedMessages,
		QueueDropNewest:    c.MQTT.QueueDrop == "newest",
		MaxTopicLevels:     c.MQTT.MaxTopicLevels,
		MaxKeepAlive:       c.MQTT.MaxKeepalive,
		MaxSessionExpiry:   c.MQTT.MaxSessionExpiry,
		TopicAliasMaximum:  aliases,
		ConnectTimeout:     c.MQTT.ConnectTimeout,
		RetainAvailable:    &retain,
		MaxQoS:             maxQoS,
		SysInterval:        sys,
		AllowZeroLengthIDs: &zeroIDs,
		MaxMessageRate:     float64(c.MQTT.MaxMessageRate),
		MaxByteRate:        float64(c.MQTT.MaxByteRate),
		MaxThrottle:        c.MQTT.MaxThrottle,
		MaxConnectionRate:  float64(c.MQTT.MaxConnectionRate),
		FlapThreshold:      c.MQTT.FlapThreshold,
		FlapWindow:         c.MQTT.FlapWindow,
		FlapBan:            c.MQTT.FlapBan,
	}
}

// Setting is one key = value from the environment or the command line.
type Setting struct {
	Key    string // "mqtt.max_inflight"
	Value  string
	Origin string // where it came from, for errors: "--set", "--data-dir"
}

// LoadOptions are the inputs of Load.
type LoadOptions struct {
	File     string   // YAML file; "" for none
	Environ  []string // "KEY=value" pairs, as os.Environ returns them
	Flags    []Setting
	Hostname func() (string, error) // nil: os.Hostname
}

// Load merges the layers and validates the result.
func Load(o LoadOptions) (Config, error) {
	l := loader{cfg: DefaultConfig(), origin: map[string]string{}}
	if o.File != "" {
		if err := l.file(o.File); err != nil {
			return Config{}, err
		}
	}
	if err := l.env(o.Environ); err != nil {
		return Config{}, err
	}
	for _, s := range o.Flags {
		if err := l.set(s.Key, s.Value, s.Origin); err != nil {
			return Config{}, err
		}
	}
	if l.cfg.NodeID == "" {
		hostname := o.Hostname
		if hostname == nil {
			hostname = os.Hostname
		}
		h, err := hostname()
		if err != nil || h == "" {
			return Config{}, fmt.Errorf("config: node_id: not set and the host name is unknown (%v)", err)
		}
		l.cfg.NodeID = h
		l.origin["node_id"] = "host name"
	}
	if errs := l.cfg.validate(); len(errs) > 0 {
		e := errs[0]
		if from := l.origin[e.key]; from != "" {
			return Config{}, fmt.Errorf("config: %s: %s [from %s]", e.key, e.msg, from)
		}
		return Config{}, fmt.Errorf("config: %s: %s", e.key, e.msg)
	}
	return l.cfg, nil
}

// Validate checks every value and returns the first problem found, in key
// order.
func (c Config) Validate() error {
	if errs := c.validate(); len(errs) > 0 {
		return fmt.Errorf("config: %s: %s", errs[0].key, errs[0].msg)
	}
	return nil
}

type loader struct {
	cfg    Config
	origin map[string]string // key → the layer that set it last
}

// set parses one value of key from a string (environment, flags).
func (l *loader) set(key, value, origin string) error {
	f, ok := fieldByKey[key]
	if !ok {
		return fmt.Errorf("config: %s: unknown key [from %s]%s", key, origin, suggest(key))
	}
	if err := f.parse(&l.cfg, value); err != nil {
		return fmt.Errorf("config: %s: %v [from %s]", key, err, origin)
	}
	l.origin[key] = origin
	return nil
}

func (l *loader) env(environ []string) error {
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		f, ok := fieldByEnv[name]
		if !ok {
			return fmt.Errorf("config: environment variable %s: no such key%s", name,
				suggest(strings.ToLower(strings.TrimPrefix(name, envPrefix))))
		}
		if err := l.set(f.key, value, "environment variable "+name); err != nil {
			return err
		}
	}
	return nil
}

// file reads the YAML file strictly: every mapping key must be a known key
// or a known section, each at most once, and values must have the right
// shape. A null value (a key with nothing after the colon) leaves the key
// at its default.
func (l *loader) file(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return fmt.Errorf("config: %s: %v", path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %s: only one YAML document is allowed", path)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return nil
	}
	return l.mapping(path, "", root)
}

func (l *loader) mapping(path, prefix string, n *yaml.Node) error {
	where := func(n *yaml.Node) string { return fmt.Sprintf("%s line %d", path, n.Line) }
	name := strings.TrimSuffix(prefix, ".")
	if n.Kind != yaml.MappingNode {
		if name == "" {
			return fmt.Errorf("config: %s: the top level must be a mapping of keys", where(n))
		}
		return fmt.Errorf("config: %s: must be a mapping of keys [from %s]", name, where(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolveAlias(n.Content[i+1])
		key := prefix + kn.Value
		if kn.Kind != yaml.ScalarNode {
			return fmt.Errorf("config: %s: keys must be plain names", where(kn))
		}
		if seen[kn.Value] {
			return fmt.Errorf("config: %s: key given twice [from %s]", key, where(kn))
		}
		seen[kn.Value] = true
		if sectionKeys[key] {
			if isNull(vn) {
				continue
			}
			if err := l.mapping(path, key+".", vn); err != nil {
				return err
			}
			continue
		}
		f, ok := fieldByKey[key]
		if !ok {
			return fmt.Errorf("config: %s: unknown key [from %s]%s", key, where(kn), suggest(key))
		}
		if isNull(vn) {
			continue
		}
		var err error
		switch {
		case f.typ == stringSliceType:
			if vn.Kind != yaml.SequenceNode {
				return fmt.Errorf("config: %s: must be a list [from %s]", key, where(vn))
			}
			items := make([]string, 0, len(vn.Content))
			for _, it := range vn.Content {
				it = resolveAlias(it)
				if it.Kind != yaml.ScalarNode {
					return fmt.Errorf("config: %s: list items must be plain values [from %s]", key, where(it))
				}
				items = append(items, it.Value)
			}
			err = f.setList(&l.cfg, items)
		case vn.Kind != yaml.ScalarNode:
			return fmt.Errorf("config: %s: must be a single value [from %s]", key, where(vn))
		default:
			err = f.parse(&l.cfg, vn.Value)
		}
		if err != nil {
			return fmt.Errorf("config: %s: %v [from %s]", key, err, where(vn))
		}
		l.origin[key] = where(vn)
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// suggest names a known key that looks like key, for error messages.
func suggest(key string) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if d := editDistance(key, f.key); d < bestDist {
			best, bestDist = f.key, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ---- the key table ----

// field is one configuration key: a leaf of Config.
type field struct {
	key    string // "mqtt.max_inflight"
	env    string // "MQTTIO_MQTT_MAX_INFLIGHT"
	index  []int  // reflect field path from Config
	typ    reflect.Type
	secret bool // `secret:"true"`: never printed (mqttio config shows <redacted>)
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	sizeType        = reflect.TypeFor[Size]()
	stringSliceType = reflect.TypeFor[[]string]()

	fields      = collectFields(reflect.TypeFor[Config](), "", nil)
	fieldByKey  = map[string]*field{}
	fieldByEnv  = map[string]*field{}
	sectionKeys = map[string]bool{} // "log", "listeners", "listeners.tcp", ...
)

func init() {
	for _, f := range fields {
		if fieldByKey[f.key] != nil || fieldByEnv[f.env] != nil {
			panic("config: duplicate key " + f.key)
		}
		fieldByKey[f.key], fieldByEnv[f.env] = f, f
		parts := strings.Split(f.key, ".")
		for i := 1; i < len(parts); i++ {
			sectionKeys[strings.Join(parts[:i], ".")] = true
		}
	}
}

func collectFields(t reflect.Type, prefix string, index []int) []*field {
	var out []*field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := sf.Tag.Get("cfg")
		if name == "" {
			panic("config: field " + sf.Name + " has no cfg tag")
		}
		idx := append(append([]int(nil), index...), i)
		key := prefix + name
		if sf.Type.Kind() == reflect.Struct {
			out = append(out, collectFields(sf.Type, key+".", idx)...)
			continue
		}
		out = append(out, &field{
			key:    key,
			env:    envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
			index:  idx,
			typ:    sf.Type,
			secret: sf.Tag.Get("secret") == "true",
		})
	}
	return out
}

func (f *field) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(f.index)
}

// parse sets the field from its string form. Lists take comma-separated
// items ("" is the empty list).
func (f *field) parse(c *Config, s string) error {
	v := f.value(c)
	switch {
	case f.typ == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid duration %q (use a number with a unit: 500ms, 10s, 5m, 2h)", s)
		}
		v.SetInt(int64(d))
	case f.typ == sizeType:
		n, err := ParseSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case f.typ == stringSliceType:
		var items []string
		for it := range strings.SplitSeq(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return f.setList(c, items)
	case f.typ.Kind() == reflect.String:
		v.SetString(s)
	case f.typ.Kind() == reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 0)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(n)
	case f.typ.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (use true or false)", s)
		}
		v.SetBool(b)
	default:
		panic("config: unsupported type " + f.typ.String())
	}
	return nil
}

func (f *field) setList(c *Config, items []string) error {
	if f.typ != stringSliceType {
		return errors.New("must be a single value, not a list")
	}
	if items == nil {
		items = []string{}
	}
	f.value(c).Set(reflect.ValueOf(items))
	return nil
}

// format renders the field's value in the form parse reads back.
func (f *field) format(c *Config) string {
	v := f.value(c)
	switch {
	case f.typ == durationType:
		return time.Duration(v.Int()).String()
	case f.typ == sizeType:
		return Size(v.Int()).String()
	case f.typ == stringSliceType:
		return strings.Join(v.Interface().([]string), ",")
	default:
		return fmt.Sprint(v.Interface())
	}
}

// Keys lists every configuration key in file order.
func Keys() []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.key
	}
	return out
}

// MarshalYAML renders c as a configuration file that Load reads back.
func (c Config) MarshalYAML() (any, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	sections := map[string]*yaml.Node{"": root}
	for _, f := range fields {
		parent := ""
		parts := strings.Split(f.key, ".")
		for i := 0; i < len(parts)-1; i++ {
			sec := strings.Join(parts[:i+1], ".")
			if sections[sec] == nil {
				m := &yaml.Node{Kind: yaml.MappingNode}
				sections[parent].Content = append(sections[parent].Content,
					&yaml.Node{Kind: yaml.ScalarNode, Value: parts[i]}, m)
				sections[sec] = m
			}
			parent = sec
		}
		var vn *yaml.Node
		if f.typ == stringSliceType {
			vn = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, s := range f.value(&c).Interface().([]string) {
				vn.Content = append(vn.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s})
			}
		} else {
			vn = &yaml.Node{Kind: yaml.ScalarNode, Value: f.format(&c)}
			if f.secret && vn.Value != "" {
				vn.Value = redacted
			}
			if f.typ.Kind() == reflect.String {
				vn.Style = yaml.DoubleQuotedStyle
			}
		}
		sections[parent].Content = append(sections[parent].Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: parts[len(parts)-1]}, vn)
	}
	return root, nil
}

// ---- validation ----

type keyError struct{ key, msg string }

func (c Config) validate() []keyError {
	var errs []keyError
	add := func(key, format string, args ...any) {
		errs = append(errs, keyError{key, fmt.Sprintf(format, args...)})
	}
	between := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			add(key, "must be between %d and %d (got %d)", lo, hi, v)
		}
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add(key, "must be one of %s (got %q)", strings.Join(allowed, ", "), v)
	}
	address := func(key, v string) {
		if v == "" {
			return
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			add(key, "must be host:port or :port (got %q)", v)
			return
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			add(key, "port must be a number between 0 and 65535 (got %q)", port)
		}
	}
	pair := func(prefix, cert, key string) {
		if (cert == "") != (key == "") {
			add(prefix+".key_file", "cert_file and key_file must be set together")
		}
	}

	if c.NodeID == "" {
		add("node_id", "must not be empty")
	} else if strings.ContainsFunc(c.NodeID, func(r rune) bool {
		return r <= ' ' || r == '/' || r == '+' || r == '#' || r == 0x7f
	}) {
		add("node_id", "must not contain spaces, control characters, '/', '+' or '#' (got %q)", c.NodeID)
	}
	if c.DataDir == "" {
		add("data_dir", "must not be empty")
	}
	if c.ShutdownTimeout <= 0 {
		add("shutdown_timeout", "must be positive (got %s)", c.ShutdownTimeout)
	}
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")

	ls := c.Listeners
	address("listeners.tcp.address", ls.TCP.Address)
	address("listeners.tls.address", ls.TLS.Address)
	pair("listeners.tls", ls.TLS.CertFile, ls.TLS.KeyFile)
	oneOf("listeners.tls.client_auth", ls.TLS.ClientAuth, "none", "request", "require")
	if ls.TLS.ClientAuth != "none" && ls.TLS.ClientCAFile == "" {
		add("listeners.tls.client_ca_file", "must be set when client_auth is %s", ls.TLS.ClientAuth)
	}
	address("listeners.http.address", ls.HTTP.Address)
	for _, o := range ls.HTTP.CORSOrigins {
		if o == "*" {
			if ls.HTTP.CORSCredentials {
				add("listeners.http.cors_origins", `"*" cannot be used with cors_credentials (browsers refuse it); list the origins`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			add("listeners.http.cors_origins", `items must be "*" or an origin like https://example.com (got %q)`, o)
		}
	}
	address("listeners.https.address", ls.HTTPS.Address)
	pair("listeners.https", ls.HTTPS.CertFile, ls.HTTPS.KeyFile)

	m := c.MQTT
	between("mqtt.max_connections", m.MaxConnections, 0, math.MaxInt32)
	if m.MaxPacketSize < minPacketSize || m.MaxPacketSize > maxPacketSize {
		add("mqtt.max_packet_size", "must be between %d and %d bytes (got %s)", minPacketSize, maxPacketSize, m.MaxPacketSize)
	}
	between("mqtt.receive_maximum", m.ReceiveMaximum, 1, 65535)
	between("mqtt.max_inflight", m.MaxInflight, 1, 65535)
	between("mqtt.max_queued_messages", m.MaxQueuedMessages, 1, math.MaxInt32)
	oneOf("mqtt.queue_drop", m.QueueDrop, "oldest", "newest")
	between("mqtt.max_topic_levels", m.MaxTopicLevels, 1, 65535)
	if m.MaxKeepalive < 0 || m.MaxKeepalive > 65535*time.Second {
		add("mqtt.max_keepalive", "must be between 0s and 18h12m15s (65535 s) (got %s)", m.MaxKeepalive)
	}
	if m.MaxSessionExpiry < 0 || m.MaxSessionExpiry > math.MaxUint32*time.Second {
		add("mqtt.max_session_expiry", "must be between 0s and 4294967295 s (got %s)", m.MaxSessionExpiry)
	}
	between("mqtt.topic_alias_maximum", m.TopicAliasMaximum, 0, 65535)
	if m.ConnectTimeout <= 0 {
		add("mqtt.connect_timeout", "must be positive (got %s)", m.ConnectTimeout)
	}
	between("mqtt.max_qos", m.MaxQoS, 0, 2)
	if m.SysInterval < 0 {
		add("mqtt.sys_interval", "must not be negative; 0 disables $SYS (got %s)", m.SysInterval)
	} else if m.SysInterval > 0 && m.SysInterval < 100*time.Millisecond {
		add("mqtt.sys_interval", "must be 0 (off) or at least 100ms (got %s)", m.SysInterval)
	}

	between("mqtt.max_message_rate", m.MaxMessageRate, 0, math.MaxInt32)
	if m.MaxByteRate < 0 {
		add("mqtt.max_byte_rate", "must not be negative; 0 turns it off (got %s)", m.MaxByteRate)
	}
	between("mqtt.max_connection_rate", m.MaxConnectionRate, 0, math.MaxInt32)
	between("mqtt.flap_threshold", m.FlapThreshold, 0, math.MaxInt32)
	for key, d := range map[string]time.Duration{"mqtt.max_throttle": m.MaxThrottle, "mqtt.flap_window": m.FlapWindow, "mqtt.flap_ban": m.FlapBan} {
		if d <= 0 {
			add(key, "must be positive (got %s)", d)
		}
	}

	a := c.Auth
	oneOf("auth.allow_anonymous", a.AllowAnonymous, "auto", "true", "false")
	if a.AllowAnonymous == "false" && a.PasswordFile == "" && !a.UseCertCNAsUsername {
		add("auth.allow_anonymous", "false refuses every client: set auth.password_file or auth.use_cert_cn_as_username too")
	}
	if a.CacheTTL < 0 {
		add("auth.cache_ttl", "must not be negative; 0s disables the cache (got %s)", a.CacheTTL)
	}

	validateCluster(c.Cluster, address, add)

	ad := c.Admin
	address("admin.address", ad.Address)
	switch {
	case ad.Token != "" && ad.TokenFile != "":
		add("admin.token_file", "set admin.token or admin.token_file, not both")
	case ad.Token == redacted:
		add("admin.token", "is the placeholder `mqttio config` prints; set the real token")
	case strings.ContainsFunc(ad.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		add("admin.token", "must not contain spaces or control characters")
	}
	return errs
}

// Packet size bounds: the smallest buffer worth configuring, and the largest
// packet MQTT can encode (a 5-byte fixed header and 268,435,455 bytes).
const (
	minPacketSize Size = 64
	maxPacketSize Size = 268435455 + 5
)

// ---- sizes ----

// Size is a number of bytes. In configuration it is written as a plain
// number of bytes or with a unit: B, KB, MB, GB (powers of 1000) or KiB,
// MiB, GiB (powers of 1024), case-insensitive, e.g. 1MiB, 64KB, 1048576.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"b", 1},
}

// ParseSize reads a Size.
func ParseSize(s string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q (use bytes or a unit: 64KB, 1MiB)", s)
	}
	return Size(n * mult), nil
}

// String renders s with the largest binary unit that divides it exactly.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
