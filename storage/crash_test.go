package storage

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mqttio/mqttio/broker/store"
	bolt "go.etcd.io/bbolt"
)

// crashEnv names the database file for TestHelperProcess to write to; unset,
// TestHelperProcess does nothing.
const crashEnv = "MQTTIO_STORAGE_CRASH_DB"

const (
	crashWriters = 16        // concurrent writers in the child, to get group commit
	crashMaxOps  = 1_000_000 // the child stops here if nobody kills it
	crashAcks    = 3000      // the parent kills the child after this many
)

func crashKey(i int) []byte   { return fmt.Appendf(nil, "%08d", i) }
func crashValue(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i%200) }

// TestHelperProcess is the child of TestCrashDurability: it commits ops as
// fast as it can, each to two buckets in one Commit, and prints "ack N" once
// op N's done reports success.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return // not the child: nothing to do
	}
	d, err := Open(Options{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			done := make(chan error, 1)
			for i := w; i < crashMaxOps; i += crashWriters {
				k, v := crashKey(i), crashValue(i)
				d.Commit([]store.Op{
					{Kind: store.Put, Bucket: "a", Key: k, Value: v},
					{Kind: store.Put, Bucket: "b", Key: k, Value: v},
				}, func(err error) {
					if err == nil {
						// Callbacks run one at a time on the committer, so
						// out needs no lock. Flush per ack: an ack the
						// parent has not read is simply not checked.
						fmt.Fprintf(out, "ack %d\n", i)
						err = out.Flush()
					}
					done <- err
				})
				if err := <-done; err != nil {
					fmt.Fprintln(os.Stderr, "commit:", err)
					os.Exit(2)
				}
			}
		})
	}
	wg.Wait()
	d.Close()
	os.Exit(0)
}

// TestCrashDurability kills a writing process with SIGKILL and checks that
// every op it acknowledged is in the file, whole, and that the file is
// consistent.
func TestCrashDurability(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	acked := make([]int, 0, crashAcks)
	sc := bufio.NewScanner(stdout)
	for len(acked) < crashAcks && sc.Scan() {
		n, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue // stray output from the test framework
		}
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		acked = append(acked, i)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	waitErr := cmd.Wait()
	if len(acked) < crashAcks {
		t.Fatalf("child stopped after %d acks (%v): %s", len(acked), waitErr, stderr.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(waitErr, &exitErr) || exitErr.ExitCode() != -1 {
		t.Fatalf("child was not killed by the signal: %v", waitErr)
	}

	d := openTest(t, Options{Path: path})
	a, b := dump(t, d, "a"), dump(t, d, "b")
	for _, i := range acked {
		if v, ok := a[string(crashKey(i))]; !ok || v != string(crashValue(i)) {
			t.Fatalf("acknowledged op %d lost or damaged after SIGKILL", i)
		}
	}
	// Unacknowledged ops may or may not be there, but never half.
	if !maps.Equal(a, b) {
		t.Fatalf("buckets a (%d keys) and b (%d keys) differ: a commit was split", len(a), len(b))
	}
	err = d.bolt.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: Check's goroutine uses tx
			first = cmp.Or(first, err)
		}
		return first
	})
	if err != nil {
		t.Fatalf("consistency check: %v", err)
	}
	t.Logf("%d acks read, %d ops found after SIGKILL", len(acked), len(a))
}
