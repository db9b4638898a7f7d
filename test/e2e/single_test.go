package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// imageUID is the mqttio user of the image (deployments/docker/rootfs).
const imageUID = 10001

// TestImage: the image's metadata, and the version stamped into the
// binary.
func TestImage(t *testing.T) {
	out := strings.Fields(docker(t, "run", "--rm", image, "--version"))
	if len(out) != 4 || out[0] != "mqttio" || out[3] != "linux/amd64" {
		t.Fatalf("--version: %q", out)
	}
	version := out[1]

	var inspect []struct {
		Config struct {
			User         string
			Env          []string
			Entrypoint   []string
			Cmd          []string
			Volumes      map[string]any
			ExposedPorts map[string]any
			Labels       map[string]string
			Healthcheck  struct{ Test []string }
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", image)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("docker image inspect: %v", err)
	}
	cfg := inspect[0].Config
	if cfg.User != fmt.Sprintf("%d:%d", imageUID, imageUID) {
		t.Errorf("user %q", cfg.User)
	}
	if _, ok := cfg.Volumes["/data"]; !ok || !slices.Contains(cfg.Env, "MQTTIO_DATA_DIR=/data") {
		t.Errorf("volumes %v, env %v: want data_dir /data as the volume", cfg.Volumes, cfg.Env)
	}
	if !slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "/usr/local/bin/mqttio", "health"}) {
		t.Errorf("health check %q", cfg.Healthcheck.Test)
	}
	for _, p := range []string{"1883/tcp", "8080/tcp", "7946/tcp", "7946/udp", "7947/tcp"} {
		if _, ok := cfg.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, cfg.ExposedPorts)
		}
	}
	l := cfg.Labels
	if l["org.opencontainers.image.version"] != version {
		t.Errorf("version label %q, binary says %q", l["org.opencontainers.image.version"], version)
	}
	if l["org.opencontainers.image.licenses"] != "Apache-2.0" || l["org.opencontainers.image.source"] == "" ||
		l["org.opencontainers.image.revision"] == "" || l["org.opencontainers.image.created"] == "" {
		t.Errorf("labels %v", l)
	}

	// The image's defaults, as the node sees them.
	conf := docker(t, "run", "--rm", image, "config")
	if !strings.Contains(conf, `data_dir: "/data"`) {
		t.Errorf("mqttio config in the image:\n%s", conf)
	}
}

// TestComposeConfig: Debian's docker-compose accepts the Compose files.
func TestComposeConfig(t *testing.T) {
	root := filepath.Join(repoRoot, "docker-compose.yml")
	node4 := filepath.Join(repoRoot, "deployments/docker/compose.node4.yml")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, files := range [][]string{{root}, {root, node4}} {
		args := []string{"-p", "mqttioconfigcheck"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		if _, err := runCmd(ctx, nil, "docker-compose", append(args, "config", "-q")...); err != nil {
			t.Error(err)
		}
		services, err := runCmd(ctx, nil, "docker-compose", append(args, "config", "--services")...)
		if err != nil {
			t.Error(err)
		}
		if n := len(strings.Fields(services)); n != 2+len(files) {
			t.Errorf("%v: services %q", files, services)
		}
	}
	// Docker picks the host ports when the port variables are empty.
	env := []string{"NODE1_MQTT_PORT=", "NODE1_HTTP_PORT=", "BROKER_IMAGE=" + image}
	out, err := runCmd(ctx, env, "docker-compose", "-f", root, "config")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "127.0.0.1::1883/tcp") || !strings.Contains(out, "image: "+image) {
		t.Errorf("docker-compose config with empty port variables:\n%s", out)
	}
}

// health returns the container's health status (starting, healthy,
// unhealthy; its state when it has no health check) and how often its
// restart policy restarted it.
func health(id string) (status string, restarts int) {
	out, err := dockerE("inspect", "-f", "{{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}", id)
	if err != nil {
		return err.Error(), 0
	}
	if _, err := fmt.Sscan(out, &restarts, &status); err != nil {
		return out, 0
	}
	return status, restarts
}

// waitHealth polls until the container's health status is want. A node
// that keeps exiting (its restart policy restarted it three times) fails
// at once rather than at the timeout.
func waitHealth(t *testing.T, id, what, want string, timeout time.Duration) {
	t.Helper()
	poll(t, timeout, 250*time.Millisecond, what+" "+want, func() (bool, string) {
		s, restarts := health(id)
		if restarts >= 3 {
			t.Fatalf("%s: exited and was restarted %d times (status %s); its last lines:\n%s", what, restarts, s, containerLogs(id, "20"))
		}
		return s == want, s
	})
}

// publishedAddr returns the host address of the container's port (e.g.
// "1883/tcp"), or "" when it has none now.
func publishedAddr(id, port string) string {
	out, err := dockerE("port", id, port)
	if err != nil {
		return ""
	}
	for _, line := range strings.Fields(out) {
		if strings.HasPrefix(line, "127.0.0.1:") {
			return line
		}
	}
	return ""
}

// TestSingleContainer: one container from the image, on a named volume:
// it becomes healthy, serves MQTT and HTTP on its published ports, keeps
// its data in the volume owned by the image's user, and after a restart
// has its retained message and the messages queued for an offline
// persistent session.
func TestSingleContainer(t *testing.T) {
	name := uniqueName("mqttioe2e-single-")
	vol := name + "-data"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, containerLogs(name, "200"))
		}
		dockerE("rm", "-f", "-v", name)
		dockerE("volume", "rm", "-f", vol)
	})
	docker(t, "run", "-d", "--name", name, "-v", vol+":/data",
		"-p", "127.0.0.1::1883", "-p", "127.0.0.1::8080",
		"--health-interval", "1s", "-e", "MQTTIO_NODE_ID=single", image)
	waitHealth(t, name, name, "healthy", 60*time.Second)
	addr := func() string { return publishedAddr(name, "1883/tcp") }

	// The health check itself, as Docker runs it.
	if out := docker(t, "exec", name, "/usr/local/bin/mqttio", "health"); !strings.Contains(out, "mqttio health: ready") {
		t.Errorf("mqttio health: %q", out)
	}

	// MQTT: a QoS 1 stream, a retained message, messages queued for an
	// offline persistent session.
	sub, _ := connect(t, addr, "e2e-single-sub", true)
	sub.subscribe(t, "e2e/single/stream")
	offline, _ := connect(t, addr, "e2e-single-persist", false)
	offline.subscribe(t, "e2e/single/queued")
	offline.disconnect()
	pub, _ := connect(t, addr, "e2e-single-pub", true)
	stream := batch("stream", 50)
	pub.publish(t, "e2e/single/stream", stream)
	sub.receive(t, messages{}, stream, 30*time.Second)
	pub.retain(t, "e2e/single/retained", "v1")
	queued := batch("queued", 20)
	pub.publish(t, "e2e/single/queued", queued)
	pub.disconnect()
	sub.disconnect()

	// HTTP (WebSocket, Socket.IO, Engine.IO) answers on its published port.
	httpAddr := publishedAddr(name, "8080/tcp")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + httpAddr + "/")
	if err != nil {
		t.Errorf("HTTP port %s: %v", httpAddr, err)
	} else {
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Errorf("HTTP port %s: %s", httpAddr, resp.Status)
		}
	}

	// The data directory belongs to the image's user.
	owners := dataOwners(t, name)
	if owners["data/"] != imageUID || owners["data/mqttio.db"] != imageUID {
		t.Errorf("owners in /data: %v, want uid %d", owners, imageUID)
	}

	// Restart (SIGTERM: a clean stop), then the state is still there.
	docker(t, "restart", "-t", "20", name)
	waitHealth(t, name, name, "healthy", 60*time.Second)
	if logs := containerLogs(name, "all"); !strings.Contains(logs, "msg=stopped") {
		t.Errorf("no clean stop in the logs:\n%s", logs)
	}
	if got := retained(t, addr, "e2e-single-ret", "e2e/single/retained"); got != "v1" {
		t.Errorf("retained after restart: %q, want v1", got)
	}
	back, present := connect(t, addr, "e2e-single-persist", false)
	if !present {
		t.Error("persistent session: session present = 0 after the restart")
	}
	back.receive(t, messages{}, queued, 30*time.Second)
	back.disconnect()
}

// containerLogs returns the last lines (a number or "all") a container
// wrote, standard output and error together: a node logs on standard
// error.
func containerLogs(id, tail string) string {
	out, err := exec.Command("docker", "logs", "--tail", tail, id).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("docker logs %s: %v\n%s", id, err, out)
	}
	return string(out)
}

// dataOwners lists the owner uid of every entry of /data in the container.
func dataOwners(t *testing.T, name string) map[string]int {
	t.Helper()
	out := docker(t, "cp", name+":/data", "-")
	owners := map[string]int{}
	tr := tar.NewReader(bytes.NewReader([]byte(out)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("docker cp %s:/data: %v", name, err)
		}
		owners[h.Name] = h.Uid
	}
	return owners
}
