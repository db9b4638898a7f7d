package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = "../.."

// image is the image under test.
var image string

func TestMain(m *testing.M) {
	if os.Getenv("MQTTIO_E2E") != "1" {
		fmt.Println("e2e: the container tests start Docker containers and run only with MQTTIO_E2E=1: `make e2e`")
		os.Exit(0)
	}
	for _, tool := range []string{"docker", "docker-compose"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s not found (Debian: apt-get install docker.io docker-compose)\n", tool)
			os.Exit(1)
		}
	}
	image = os.Getenv("MQTTIO_E2E_IMAGE")
	if image == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		out, err := runCmd(ctx, nil, "bash", filepath.Join(repoRoot, "deployments/docker/build.sh"))
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building the image:", err)
			os.Exit(1)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		image = lines[len(lines)-1]
	}
	fmt.Println("e2e: image", image)
	os.Exit(m.Run())
}

// cmdError is a failed command with what it wrote on standard error.
type cmdError struct {
	cmd    string
	err    error
	stderr string
}

func (e *cmdError) Error() string {
	return fmt.Sprintf("%s: %v\n%s", e.cmd, e.err, strings.TrimSpace(e.stderr))
}

// runCmd runs a command (with env added to this process's environment)
// and returns its standard output.
func runCmd(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &cmdError{name + " " + strings.Join(args, " "), err, stderr.String()}
	}
	return stdout.String(), nil
}

// docker runs a docker command, failing the test on error.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := runCmd(ctx, nil, "docker", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dockerE runs a docker command and returns its error.
func dockerE(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCmd(ctx, nil, "docker", args...)
}

// uniqueName is prefix followed by random hex: names of containers,
// volumes and Compose projects that no other run uses.
func uniqueName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// poll calls cond until it reports true, every interval, failing the test
// after timeout with the last state cond described.
func poll(t testing.TB, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, state)
		case <-tick.C:
		}
	}
}
