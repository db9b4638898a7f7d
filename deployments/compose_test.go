package deployments

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	dockerfile   = "docker/Dockerfile"
	buildScript  = "docker/build.sh"
	composeFile  = "../docker-compose.yml"
	composeNode4 = "docker/compose.node4.yml"
)

// dockerfileInfo is what the tests need from the Dockerfile.
type dockerfileInfo struct {
	from        []string
	user        string
	entrypoint  []string
	healthcheck []string // the CMD of HEALTHCHECK
	env         map[string]string
	volumes     []string
	expose      []string
	labels      map[string]string
	copies      []string // COPY arguments
}

// readDockerfile parses the instructions the image uses (continuation
// lines joined).
func readDockerfile(t *testing.T) *dockerfileInfo {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerfileInfo{env: map[string]string{}, labels: map[string]string{}}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if regexp.MustCompile(`^#\s*syntax\s*=`).MatchString(trimmed) {
			t.Errorf("%s: %q: a syntax directive makes the builder pull a frontend image", dockerfile, trimmed)
		}
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	jsonArgs := func(s string) []string {
		var out []string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			t.Errorf("%s: %q: want the JSON (exec) form: %v", dockerfile, s, err)
		}
		return out
	}
	kvs := regexp.MustCompile(`([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S+)`)
	for _, l := range lines {
		instr, args, _ := strings.Cut(l, " ")
		args = strings.TrimSpace(args)
		switch strings.ToUpper(instr) {
		case "FROM":
			d.from = append(d.from, args)
		case "USER":
			d.user = args
		case "ENTRYPOINT":
			d.entrypoint = jsonArgs(args)
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(args, "CMD ")
			if !ok {
				t.Fatalf("%s: HEALTHCHECK without CMD: %q", dockerfile, l)
			}
			d.healthcheck = jsonArgs(strings.TrimSpace(cmd))
		case "VOLUME":
			d.volumes = append(d.volumes, jsonArgs(args)...)
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(args)...)
		case "COPY":
			d.copies = append(d.copies, args)
		case "ENV", "LABEL":
			m := d.env
			if strings.ToUpper(instr) == "LABEL" {
				m = d.labels
			}
			for _, kv := range kvs.FindAllStringSubmatch(args, -1) {
				v := kv[2]
				if uq, err := strconv.Unquote(v); err == nil {
					v = uq
				}
				m[kv[1]] = v
			}
		}
	}
	return d
}

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	keys := loadConfigKeys(t)
	uid, gid := imageUser(t)
	if !slices.Equal(d.from, []string{"scratch"}) {
		t.Errorf("FROM %q: want only scratch (nothing can be pulled)", d.from)
	}
	if want := fmt.Sprintf("%d:%d", uid, gid); d.user != want {
		t.Errorf("USER %q, want the numeric %s of the mqttio user", d.user, want)
	}
	if !slices.Contains(d.copies, fmt.Sprintf("--chown=%d:%d data/ /data/", uid, gid)) {
		t.Errorf("COPY %q: want /data copied in owned by %d:%d", d.copies, uid, gid)
	}
	if d.env["MQTTIO_DATA_DIR"] != "/data" || !slices.Equal(d.volumes, []string{"/data"}) {
		t.Errorf("ENV %v, VOLUME %v: want data_dir /data as the volume", d.env, d.volumes)
	}
	for name := range d.env {
		keys.checkEnv(t, dockerfile, name)
	}
	if len(d.entrypoint) != 1 || !strings.HasSuffix(d.entrypoint[0], "/mqttio") {
		t.Errorf("ENTRYPOINT %q, want the binary", d.entrypoint)
	}
	if !slices.Equal(d.healthcheck, append(slices.Clone(d.entrypoint), "health")) {
		t.Errorf("HEALTHCHECK CMD %q, want %q health", d.healthcheck, d.entrypoint)
	}
	for _, l := range []string{"version", "revision", "source", "licenses", "created", "title"} {
		if d.labels["org.opencontainers.image."+l] == "" {
			t.Errorf("no label org.opencontainers.image.%s", l)
		}
	}
	for _, key := range []string{"listeners.tcp.address", "listeners.http.address", "listeners.tls.address", "listeners.https.address", "admin.address"} {
		if p := strconv.Itoa(keys.defaultPort(t, key)); !slices.Contains(d.expose, p) {
			t.Errorf("EXPOSE %v lacks %s, the port of %s", d.expose, p, key)
		}
	}

	script, err := os.ReadFile(buildScript)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-X main.version=$VERSION", `-f "$here/Dockerfile"`} {
		if !strings.Contains(string(script), want) {
			t.Errorf("%s does not contain %s", buildScript, want)
		}
	}
}

// composeDoc is the part of a Compose file the tests read.
type composeDoc struct {
	Version  string                     `yaml:"version"`
	Services map[string]*composeService `yaml:"services"`
	Networks map[string]any             `yaml:"networks"`
	Volumes  map[string]any             `yaml:"volumes"`
}

type composeService struct {
	Image           string            `yaml:"image"`
	Hostname        string            `yaml:"hostname"`
	Restart         string            `yaml:"restart"`
	StopGracePeriod string            `yaml:"stop_grace_period"`
	Environment     map[string]string `yaml:"environment"`
	Volumes         []string          `yaml:"volumes"`
	Ports           []string          `yaml:"ports"`
	Networks        []string          `yaml:"networks"`
	Healthcheck     struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
}

var composeVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}`)

// readCompose reads a Compose file with its variables interpolated from
// env as Compose does (${X:-d}: d when X is unset or empty; ${X-d}: d
// when unset), and returns the variable names it uses.
func readCompose(t *testing.T, file string, env map[string]string) (*composeDoc, []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var vars []string
	text := composeVar.ReplaceAllStringFunc(string(data), func(m string) string {
		sub := composeVar.FindStringSubmatch(m)
		name, op, def := sub[1], sub[2], sub[3]
		if !slices.Contains(vars, name) {
			vars = append(vars, name)
		}
		v, set := env[name]
		switch {
		case op == ":-" && v == "", op == "-" && !set:
			return def
		}
		return v
	})
	var doc composeDoc
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	sort.Strings(vars)
	return &doc, vars
}

// composePort is one published port: host address, host port ("" for one
// Docker chooses), container port.
type composePort struct {
	ip, host  string
	container int
}

func parseComposePort(t *testing.T, s string) composePort {
	t.Helper()
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		t.Fatalf("port %q: want ip:host:container", s)
	}
	c, err := strconv.Atoi(parts[2])
	if err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return composePort{parts[0], parts[1], c}
}

// checkComposeNode checks one node service; seeds are every node the
// cluster starts with.
func checkComposeNode(t *testing.T, doc *composeDoc, name string, s *composeService, seeds []string, keys *configKeys, df *dockerfileInfo) {
	t.Helper()
	env := s.Environment
	for v := range env {
		keys.checkEnv(t, name, v)
	}
	if s.Image != "mqttio:latest" {
		t.Errorf("%s: image %q, want mqttio:latest (what make image builds)", name, s.Image)
	}
	if s.Hostname != name || env["MQTTIO_NODE_ID"] != name || env["MQTTIO_CLUSTER_ADVERTISE"] != name {
		t.Errorf("%s: hostname %q, node_id %q, advertise %q: want the service name", name, s.Hostname, env["MQTTIO_NODE_ID"], env["MQTTIO_CLUSTER_ADVERTISE"])
	}
	if env["MQTTIO_DATA_DIR"] != df.env["MQTTIO_DATA_DIR"] {
		t.Errorf("%s: data_dir %q, want the image's %q", name, env["MQTTIO_DATA_DIR"], df.env["MQTTIO_DATA_DIR"])
	}
	host, gossip, err := addrPort(env["MQTTIO_CLUSTER_BIND"])
	if err != nil || (host != "0.0.0.0" && host != "") {
		t.Errorf("%s: cluster.bind %q: want every interface", name, env["MQTTIO_CLUSTER_BIND"])
	}
	if _, _, err := addrPort(env["MQTTIO_CLUSTER_GRPC_ADDRESS"]); err != nil {
		t.Errorf("%s: cluster.grpc_address: %v", name, err)
	}
	var join []string
	for _, n := range seeds {
		join = append(join, fmt.Sprintf("%s:%d", n, gossip))
	}
	if got := env["MQTTIO_CLUSTER_JOIN"]; got != strings.Join(join, ",") {
		t.Errorf("%s: cluster.join %q, want %q", name, got, strings.Join(join, ","))
	}
	if got := env["MQTTIO_CLUSTER_BOOTSTRAP_EXPECT"]; got != strconv.Itoa(len(seeds)) {
		t.Errorf("%s: cluster.bootstrap_expect %q, want %d", name, got, len(seeds))
	}
	if len(s.Volumes) != 1 || !strings.HasSuffix(s.Volumes[0], ":"+env["MQTTIO_DATA_DIR"]) {
		t.Errorf("%s: volumes %q: want one named volume at data_dir", name, s.Volumes)
	} else if vol := strings.TrimSuffix(s.Volumes[0], ":"+env["MQTTIO_DATA_DIR"]); doc.Volumes == nil || !hasKey(doc.Volumes, vol) {
		t.Errorf("%s: volume %q is not a declared named volume", name, vol)
	}
	var containerPorts []int
	for _, p := range s.Ports {
		containerPorts = append(containerPorts, parseComposePort(t, p).container)
	}
	if want := []int{keys.defaultPort(t, "listeners.tcp.address"), keys.defaultPort(t, "listeners.http.address")}; !slices.Equal(containerPorts, want) {
		t.Errorf("%s: published container ports %v, want MQTT and HTTP %v", name, containerPorts, want)
	}
	if want := append([]string{"CMD"}, df.healthcheck...); !slices.Equal(s.Healthcheck.Test, want) {
		t.Errorf("%s: healthcheck %q, want %q", name, s.Healthcheck.Test, want)
	}
	if s.Healthcheck.Interval == "" || s.Healthcheck.StartPeriod == "" || s.Healthcheck.Retries == 0 {
		t.Errorf("%s: healthcheck %+v: want interval, retries and start_period", name, s.Healthcheck)
	}
	if len(s.Networks) != 1 || !hasKey(doc.Networks, s.Networks[0]) {
		t.Errorf("%s: networks %q: want the cluster's one network", name, s.Networks)
	}
	if s.Restart == "" {
		t.Errorf("%s: no restart policy", name)
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func TestCompose(t *testing.T) {
	keys := loadConfigKeys(t)
	df := readDockerfile(t)
	doc, vars := readCompose(t, composeFile, nil)
	if doc.Version != "2.4" {
		t.Errorf("version %q: want 2.4, read by docker-compose 1.29 and Compose v2", doc.Version)
	}
	for _, v := range vars {
		if strings.HasPrefix(v, "MQTTIO_") {
			t.Errorf("variable %s: a node refuses unknown MQTTIO_ variables in its environment; name it otherwise", v)
		}
	}
	var names []string
	for n := range doc.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{"mqttio-1", "mqttio-2", "mqttio-3"}) {
		t.Fatalf("services %v, want mqttio-1, mqttio-2, mqttio-3", names)
	}
	hostPorts := map[string]string{}
	volumes := map[string]string{}
	for _, n := range names {
		s := doc.Services[n]
		checkComposeNode(t, doc, n, s, names, keys, df)
		for _, p := range s.Ports {
			cp := parseComposePort(t, p)
			if cp.ip != "127.0.0.1" || cp.host == "" {
				t.Errorf("%s: port %q: want a fixed host port on 127.0.0.1 by default", n, p)
			}
			if other, dup := hostPorts[cp.host]; dup {
				t.Errorf("%s: host port %s also published by %s", n, cp.host, other)
			}
			hostPorts[cp.host] = n
		}
		if other, dup := volumes[s.Volumes[0]]; dup {
			t.Errorf("%s: volume %s shared with %s", n, s.Volumes[0], other)
		}
		volumes[s.Volumes[0]] = n
	}

	// Empty port variables let Docker choose (as test/e2e does), and the
	// publish address is a variable.
	doc, _ = readCompose(t, composeFile, map[string]string{"NODE2_MQTT_PORT": "", "BROKER_PUBLISH_IP": "0.0.0.0", "BROKER_IMAGE": "mqttio:e2e"})
	if p := parseComposePort(t, doc.Services["mqttio-2"].Ports[0]); p != (composePort{"0.0.0.0", "", 1883}) {
		t.Errorf("mqttio-2 MQTT port with NODE2_MQTT_PORT empty: %+v", p)
	}
	if img := doc.Services["mqttio-3"].Image; img != "mqttio:e2e" {
		t.Errorf("BROKER_IMAGE: image %q", img)
	}
}

func TestComposeNode4(t *testing.T) {
	keys := loadConfigKeys(t)
	df := readDockerfile(t)
	base, _ := readCompose(t, composeFile, nil)
	extra, vars := readCompose(t, composeNode4, nil)
	for _, v := range vars {
		if strings.HasPrefix(v, "MQTTIO_") {
			t.Errorf("variable %s: name it otherwise", v)
		}
	}
	s := extra.Services["mqttio-4"]
	if len(extra.Services) != 1 || s == nil {
		t.Fatalf("services %v, want mqttio-4", extra.Services)
	}
	// Merged with the base file: its network, its seeds.
	merged := &composeDoc{Networks: base.Networks, Volumes: extra.Volumes}
	checkComposeNode(t, merged, "mqttio-4", s, []string{"mqttio-1", "mqttio-2", "mqttio-3"}, keys, df)
	used := map[string]bool{}
	for _, bs := range base.Services {
		for _, p := range bs.Ports {
			used[parseComposePort(t, p).host] = true
		}
		if slices.Equal(bs.Volumes, s.Volumes) {
			t.Errorf("mqttio-4 shares volume %v", s.Volumes)
		}
	}
	for _, p := range s.Ports {
		if used[parseComposePort(t, p).host] {
			t.Errorf("mqttio-4 port %q already used by the base file", p)
		}
	}
}
