package auth

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// testCost keeps the tests fast; production uses DefaultCost.
const testCost = bcrypt.MinCost

func TestPasswordFileEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := AddUser(path, "alice", []byte("wonderland"), testCost); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %v, want 0600", fi.Mode().Perm())
	}
	// Comments and order are kept; an existing user is replaced in place.
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append([]byte("# users\n"), data...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"bob", "carol"} {
		if err := AddUser(path, u, []byte("pw-"+u), testCost); err != nil {
			t.Fatal(err)
		}
	}
	if err := AddUser(path, "alice", []byte("looking-glass"), testCost); err != nil {
		t.Fatal(err)
	}
	if err := DeleteUser(path, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteUser(path, "bob"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("deleting a missing user: %v", err)
	}
	data, _ = os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 || lines[0] != "# users" || !strings.HasPrefix(lines[1], "alice:$2a$04$") || !strings.HasPrefix(lines[2], "carol:$2a$") {
		t.Fatalf("file:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode not kept: %v", fi.Mode().Perm())
	}
	if strings.Contains(string(data), "looking-glass") || strings.Contains(string(data), "pw-carol") {
		t.Fatal("a plain-text password is in the file")
	}
	pw, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if pw.Len() != 2 || !pw.users["alice"].verify([]byte("looking-glass")) || pw.users["alice"].verify([]byte("wonderland")) {
		t.Fatal("alice's new password does not verify, or the old one still does")
	}

	for _, tc := range []struct {
		user, pass string
		want       string
	}{
		{"", "x", "empty username"},
		{"a:b", "x", "':'"},
		{"a\nb", "x", "control"},
		{"#x", "x", "'#'"},
		{" x", "x", "space"},
		{"x", "", "empty password"},
		{"x", strings.Repeat("p", 73), "longer than 72"},
	} {
		if err := AddUser(path, tc.user, []byte(tc.pass), testCost); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddUser(%q, %q): %v, want %q", tc.user, tc.pass, err, tc.want)
		}
	}
	// A file that does not parse is not rewritten.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("alice:plaintext\n"), 0o600)
	if err := AddUser(bad, "bob", []byte("x"), testCost); err == nil || !strings.Contains(err.Error(), "line 1: user \"alice\": unsupported hash") {
		t.Fatalf("AddUser on a bad file: %v", err)
	}
}

func TestPasswordFileErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"alice", "line 1: want user:hash"},
		{":$2a$04$x", "line 1: want user:hash"},
		{"# c\n\nalice:secret", "line 3: user \"alice\": unsupported hash"},
		{"a:$2y$04$short", "bad bcrypt hash"},
		{"a:$7$x$y$z", "iterations"},
		{"a:$6$!!$y", "base64"},
		{"a:$2a$04$AAAAAAAAAAAAAAAAAAAAAOV2Kf0pz8Pws5TP7fUxCs2SLVnwcU3Ay\na:$2a$04$AAAAAAAAAAAAAAAAAAAAAOV2Kf0pz8Pws5TP7fUxCs2SLVnwcU3Ay", "line 2: user \"a\" given twice"},
	} {
		_, err := parsePasswords("pw", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error repeats a plain-text password: %v", err)
		}
	}
}

// Files written by Debian's mosquitto_passwd ($7$ PBKDF2-SHA512 and the
// older $6$ SHA-512) verify unchanged.
func TestMosquittoPasswdCompat(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatal("mosquitto_passwd not installed (apt-get install mosquitto):", err)
	}
	path := filepath.Join(t.TempDir(), "mosq")
	for _, args := range [][]string{
		{"-c", "-b", path, "alice", "s3cret"},
		{"-H", "sha512", "-b", path, "bob", "hunter2"},
	} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v\n%s", args, err, out)
		}
	}
	// Our own entries live in the same file.
	if err := AddUser(path, "carol", []byte("pw"), testCost); err != nil {
		t.Fatal(err)
	}
	pw, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if k := pw.users["alice"].kind; k != kindPBKDF2 {
		t.Fatalf("alice: kind %d", k)
	}
	if k := pw.users["bob"].kind; k != kindSHA512 {
		t.Fatalf("bob: kind %d", k)
	}
	for user, pass := range map[string]string{"alice": "s3cret", "bob": "hunter2", "carol": "pw"} {
		e := pw.users[user]
		if !e.verify([]byte(pass)) {
			t.Errorf("%s: the right password does not verify", user)
		}
		if e.verify([]byte(pass + "x")) {
			t.Errorf("%s: a wrong password verifies", user)
		}
	}
}

// The cache runs one verification for concurrent and repeated checks of
// the same (user, hash, password), none after that until the TTL passes,
// and keys on the presented password.
func TestVerifyCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := AddUser(path, "dev", []byte("fleet"), testCost); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{PasswordFile: path, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e := a.pw.Load().users["dev"]
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !a.verify("dev", e, []byte("fleet")) {
				t.Error("refused")
			}
		}()
	}
	wg.Wait()
	if st := a.Stats(); st.Verifications != 1 || st.CacheHits != 49 {
		t.Fatalf("50 concurrent checks: %d verifications, %d hits", st.Verifications, st.CacheHits)
	}
	for range 2 {
		if a.verify("dev", e, []byte("wrong")) {
			t.Fatal("wrong password accepted")
		}
	}
	if st := a.Stats(); st.Verifications != 2 {
		t.Fatalf("wrong password twice: %d verifications", st.Verifications)
	}
	// Expired entries are computed again.
	c := newVerifyCache(time.Nanosecond, 4)
	n := 0
	for range 3 {
		c.do(c.key("u", []byte("h"), []byte("p")), func() bool { n++; return true })
	}
	if n != 3 {
		t.Fatalf("expired entries reused: %d computations", n)
	}
	// The map stays bounded.
	for i := range 100 {
		c.do(c.key("u", []byte("h"), []byte(itoa(i))), func() bool { return false })
	}
	if len(c.entries) > 4 {
		t.Fatalf("cache grew to %d entries", len(c.entries))
	}
	// Keys differ by every component, and are not the password.
	k := c.key("u", []byte("h"), []byte("p"))
	for _, other := range [][32]byte{c.key("v", []byte("h"), []byte("p")), c.key("u", []byte("i"), []byte("p")), c.key("u", []byte("h"), []byte("q")), c.key("uh", nil, []byte("p"))} {
		if other == k {
			t.Fatal("distinct inputs share a key")
		}
	}
}

// Measures one password verification per hash kind. Run with
// go test -run x -bench Verify ./auth/
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		hash func() string
	}{
		{"bcrypt-cost10", func() string { h, _ := bcrypt.GenerateFromPassword([]byte("pw"), 10); return string(h) }},
		{"bcrypt-cost12", func() string { h, _ := bcrypt.GenerateFromPassword([]byte("pw"), 12); return string(h) }},
		{"mosquitto-pbkdf2-101", func() string {
			return "$7$101$FYPusguRhLNHmsL+$jIFig7Q3dHbbNCUBWQZAyYZyPv4NtjHB/guUOT7G7v06sTcDQMCrro7TWtR9ByG7RrIjoasK3RmCrEwJz34K2A=="
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e, err := parseHash(tc.hash())
			if err != nil {
				b.Fatal(err)
			}
			cpu := cpuNanos()
			for b.Loop() {
				e.verify([]byte("pw"))
			}
			// The machine may be shared: CPU time per verification is the
			// cost that matters, wall time also counts waiting.
			b.ReportMetric(float64(cpuNanos()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("cache-hit", func(b *testing.B) {
		h, _ := bcrypt.GenerateFromPassword([]byte("pw"), 10)
		e := &entry{hash: h, kind: kindBcrypt}
		a := &Authorizer{cache: newVerifyCache(time.Hour, 1000)}
		a.verify("u", e, []byte("pw"))
		b.ReportAllocs()
		for b.Loop() {
			if !a.verify("u", e, []byte("pw")) {
				b.Fatal("refused")
			}
		}
	})
}

// cpuNanos is the CPU time (user and system) of the process so far.
func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
