package auth

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// DefaultCost is the bcrypt cost of hashes written by AddUser: 2^10
// rounds, the library's default. Each verification costs the same, which
// is why Authorizer caches the results (see docs/operations.md for the
// measured cost).
const DefaultCost = bcrypt.DefaultCost

// MaxPasswordLen is the longest password bcrypt takes into account; longer
// ones are refused rather than silently truncated.
const MaxPasswordLen = 72

// hashKind is the algorithm of one password-file entry.
type hashKind uint8

const (
	kindBcrypt hashKind = iota + 1 // $2a$, $2b$, $2y$ (mqttio passwd, htpasswd -B)
	kindPBKDF2                     // mosquitto $7$: PBKDF2-HMAC-SHA512
	kindSHA512                     // mosquitto $6$: salted SHA-512 (mosquitto 1.6 and earlier)
)

// entry is one user of a password file.
type entry struct {
	hash []byte // as written in the file
	kind hashKind
	// Parsed $6$ / $7$ fields.
	iter       int
	salt, want []byte
}

// Passwords is an immutable snapshot of a password file.
type Passwords struct {
	users map[string]*entry
	// decoy is verified against when the user is unknown, so that an
	// unknown user takes as long to refuse as a wrong password.
	decoy *entry
}

// Len returns the number of users.
func (p *Passwords) Len() int { return len(p.users) }

// Has reports whether the file has user.
func (p *Passwords) Has(user string) bool { _, ok := p.users[user]; return ok }

// LoadPasswords reads a password file: one "user:hash" per line; empty
// lines and lines starting with '#' are ignored. Hashes are bcrypt
// ($2a$/$2b$/$2y$, as written by `mqttio passwd` and `htpasswd -B`) or
// mosquitto's $7$ (PBKDF2-SHA512) and $6$ (salted SHA-512), so a
// mosquitto_passwd file works unchanged. Errors name the line; a file that
// does not parse is refused as a whole.
func LoadPasswords(path string) (*Passwords, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePasswords(path, data)
}

func parsePasswords(path string, data []byte) (*Passwords, error) {
	p := &Passwords{users: make(map[string]*entry)}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s line %d: want user:hash", path, n)
		}
		if _, dup := p.users[user]; dup {
			return nil, fmt.Errorf("%s line %d: user %q given twice", path, n, user)
		}
		e, err := parseHash(strings.TrimSpace(hash))
		if err != nil {
			// The hash is not quoted: it may be a plain-text password.
			return nil, fmt.Errorf("%s line %d: user %q: %v", path, n, user, err)
		}
		p.users[user] = e
		if p.decoy == nil {
			p.decoy = e
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

var b64 = base64.StdEncoding

func parseHash(h string) (*entry, error) {
	e := &entry{hash: []byte(h)}
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost(e.hash); err != nil {
			return nil, fmt.Errorf("bad bcrypt hash: %v", err)
		}
		e.kind = kindBcrypt
	case strings.HasPrefix(h, "$7$"):
		// $7$iterations$salt$hash, base64.
		parts := strings.Split(h, "$")
		if len(parts) != 5 {
			return nil, errors.New("bad $7$ hash: want $7$iterations$salt$hash")
		}
		iter, err := strconv.Atoi(parts[2])
		if err != nil || iter < 1 {
			return nil, errors.New("bad $7$ hash: iterations")
		}
		salt, err1 := b64.DecodeString(parts[3])
		want, err2 := b64.DecodeString(parts[4])
		if err1 != nil || err2 != nil || len(want) == 0 {
			return nil, errors.New("bad $7$ hash: base64")
		}
		e.kind, e.iter, e.salt, e.want = kindPBKDF2, iter, salt, want
	case strings.HasPrefix(h, "$6$"):
		parts := strings.Split(h, "$")
		if len(parts) != 4 {
			return nil, errors.New("bad $6$ hash: want $6$salt$hash")
		}
		salt, err1 := b64.DecodeString(parts[2])
		want, err2 := b64.DecodeString(parts[3])
		if err1 != nil || err2 != nil || len(want) != sha512.Size {
			return nil, errors.New("bad $6$ hash: base64")
		}
		e.kind, e.salt, e.want = kindSHA512, salt, want
	default:
		return nil, errors.New("unsupported hash (want bcrypt $2y$..., or mosquitto $7$/$6$; use `mqttio passwd add`)")
	}
	return e, nil
}

// verify checks password against the entry. It is slow on purpose for
// bcrypt (see DefaultCost).
func (e *entry) verify(password []byte) bool {
	switch e.kind {
	case kindBcrypt:
		return bcrypt.CompareHashAndPassword(e.hash, password) == nil
	case kindPBKDF2:
		got, err := pbkdf2.Key(sha512.New, string(password), e.salt, e.iter, len(e.want))
		return err == nil && subtle.ConstantTimeCompare(got, e.want) == 1
	case kindSHA512:
		h := sha512.New()
		h.Write(password)
		h.Write(e.salt)
		return subtle.ConstantTimeCompare(h.Sum(nil), e.want) == 1
	}
	return false
}

// ValidUsername checks a name for the password file: not empty, no ':'
// and no control characters.
func ValidUsername(user string) error {
	switch {
	case user == "":
		return errors.New("empty username")
	case strings.ContainsRune(user, ':'):
		return errors.New("username must not contain ':'")
	case strings.ContainsFunc(user, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return errors.New("username must not contain control characters")
	case strings.HasPrefix(user, "#"):
		return errors.New("username must not start with '#'")
	case strings.TrimSpace(user) != user:
		return errors.New("username must not start or end with a space")
	}
	return nil
}

// HashPassword returns the bcrypt hash of password at cost (0: DefaultCost).
func HashPassword(password []byte, cost int) ([]byte, error) {
	if len(password) == 0 {
		return nil, errors.New("empty password")
	}
	if len(password) > MaxPasswordLen {
		return nil, fmt.Errorf("password longer than %d bytes (bcrypt ignores the rest)", MaxPasswordLen)
	}
	if cost == 0 {
		cost = DefaultCost
	}
	return bcrypt.GenerateFromPassword(password, cost)
}

// AddUser sets the password of user in the password file at path, creating
// the file (mode 0600) if needed. Other lines, comments included, are kept
// in place; a new user is appended. The file is replaced atomically.
func AddUser(path, user string, password []byte, cost int) error {
	if err := ValidUsername(user); err != nil {
		return err
	}
	hash, err := HashPassword(password, cost)
	if err != nil {
		return err
	}
	return rewrite(path, true, func(lines []string) ([]string, error) {
		line := user + ":" + string(hash)
		for i, l := range lines {
			if u, _, ok := strings.Cut(l, ":"); ok && u == user {
				lines[i] = line
				return lines, nil
			}
		}
		return append(lines, line), nil
	})
}

// ErrNoUser is returned by DeleteUser for a user the file does not have.
var ErrNoUser = errors.New("no such user")

// DeleteUser removes user from the password file at path.
func DeleteUser(path, user string) error {
	return rewrite(path, false, func(lines []string) ([]string, error) {
		for i, l := range lines {
			if u, _, ok := strings.Cut(l, ":"); ok && u == user {
				return append(lines[:i], lines[i+1:]...), nil
			}
		}
		return nil, fmt.Errorf("%s: %w %q", path, ErrNoUser, user)
	})
}

// rewrite applies edit to the lines of the file and replaces it through a
// temporary file in the same directory, keeping the file's mode. The
// result must parse as a password file.
func rewrite(path string, create bool, edit func([]string) ([]string, error)) error {
	mode := os.FileMode(0o600)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	case errors.Is(err, os.ErrNotExist) && create:
	default:
		return err
	}
	if _, err := parsePasswords(path, data); err != nil {
		return err
	}
	var lines []string
	if len(data) > 0 {
		lines = strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	}
	lines, err = edit(lines)
	if err != nil {
		return err
	}
	out := strings.Join(lines, "\n")
	if len(lines) > 0 {
		out += "\n"
	}
	if _, err := parsePasswords(path, []byte(out)); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
