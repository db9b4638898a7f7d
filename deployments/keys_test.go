package deployments

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// exampleConfig is the file that lists every configuration key the binary
// knows, with its default (a test in cmd/mqttio keeps it in step).
const exampleConfig = "../mqttio.example.yaml"

// pendingKeys are keys the deployment files use before the binary has
// them: the cluster's (issues 4 and 5), the admin listener's and
// authentication's (issue 7). A pending key is accepted only while
// mqttio.example.yaml has no section of that name: once the section lands,
// every key of it that a deployment file uses must be real, so a key
// that lands under another name fails here.
var pendingKeys = map[string]bool{
	"admin.address":            true,
	"cluster.bind":             true,
	"cluster.advertise":        true,
	"cluster.join":             true,
	"cluster.grpc_address":     true,
	"cluster.bootstrap_expect": true,
	"cluster.gossip_key":       true,
	"auth.password_file":       true,
	"auth.acl_file":            true,
}

// configKeys is the key set the deployment files may use: the example
// file's keys plus the pending keys of sections it does not have yet.
type configKeys struct {
	known   map[string]bool // key → true
	env     map[string]string
	pending map[string]bool // pending keys still accepted
	example map[string]any  // the example file, parsed: the defaults
}

func loadConfigKeys(t *testing.T) *configKeys {
	t.Helper()
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := yaml.Unmarshal(data, &example); err != nil {
		t.Fatalf("%s: %v", exampleConfig, err)
	}
	k := &configKeys{known: map[string]bool{}, env: map[string]string{}, pending: map[string]bool{}, example: example}
	for _, key := range flattenKeys(example, "") {
		k.known[key] = true
	}
	for key := range pendingKeys {
		section, _, _ := strings.Cut(key, ".")
		if _, landed := example[section]; landed {
			continue
		}
		k.known[key] = true
		k.pending[key] = true
	}
	for key := range k.known {
		k.env["MQTTIO_"+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
	}
	return k
}

// flattenKeys lists the dotted leaf keys of a parsed YAML mapping; lists
// are leaves.
func flattenKeys(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out = append(out, flattenKeys(sub, prefix+k+".")...)
			continue
		}
		out = append(out, prefix+k)
	}
	sort.Strings(out)
	return out
}

// checkFileKeys fails for every key of a configuration file that the
// binary does not know and that is not pending.
func (k *configKeys) checkFileKeys(t *testing.T, where string, cfg map[string]any) {
	t.Helper()
	for _, key := range flattenKeys(cfg, "") {
		if !k.known[key] {
			t.Errorf("%s: configuration key %s is unknown (not in %s, not pending)", where, key, exampleConfig)
		}
	}
}

// checkEnv fails for an MQTTIO_ variable that names no key.
func (k *configKeys) checkEnv(t *testing.T, where, name string) {
	t.Helper()
	if strings.HasPrefix(name, "MQTTIO_") && k.env[name] == "" {
		t.Errorf("%s: environment variable %s names no configuration key", where, name)
	}
}

// lookup returns the value at a dotted key of a parsed configuration.
func lookup(cfg map[string]any, key string) (any, bool) {
	var cur any = cfg
	for part := range strings.SplitSeq(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// lookupString is lookup for a string value; "" when absent.
func lookupString(cfg map[string]any, key string) string {
	v, _ := lookup(cfg, key)
	s, _ := v.(string)
	return s
}

// addrPort returns the port of a listen address "host:port".
func addrPort(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, port, nil
}

// defaultPort is the port of an address key's default in the example file.
func (k *configKeys) defaultPort(t *testing.T, key string) int {
	t.Helper()
	_, port, err := addrPort(lookupString(k.example, key))
	if err != nil {
		t.Fatalf("%s default in %s: %v", key, exampleConfig, err)
	}
	return port
}

func TestConfigKeys(t *testing.T) {
	k := loadConfigKeys(t)
	for _, key := range []string{"node_id", "data_dir", "listeners.tcp.address", "listeners.http.address"} {
		if !k.known[key] || k.pending[key] {
			t.Errorf("%s: not a key of %s", key, exampleConfig)
		}
	}
	var pending []string
	for key := range k.pending {
		pending = append(pending, key)
	}
	sort.Strings(pending)
	t.Logf("keys used before the binary has them: %s", strings.Join(pending, ", "))
}
