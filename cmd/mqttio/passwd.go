package main

// mqttio passwd: manage a password file.
//
//	mqttio passwd add [--password P] [--cost N] FILE USER
//	mqttio passwd delete FILE USER
//
// add reads the password from the terminal (asked twice, not echoed) or,
// when standard input is not a terminal, from its first line; --password
// is for scripts (it shows in the process list and the shell history).
// The file is rewritten atomically; a running node picks the change up on
// SIGHUP.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mqttio/mqttio/auth"
)

const passwdUsage = `Usage:
  mqttio passwd add [--password P] [--cost N] FILE USER
  mqttio passwd delete FILE USER

add sets USER's password in FILE (created with mode 0600 if missing) as a
bcrypt hash; the password is asked on the terminal, or read from the first
line of standard input. delete removes USER. Reload a running node with
SIGHUP (kill -HUP PID) to apply the change; connected clients stay.

Flags of add:
`

func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqttio passwd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	password := fs.String("password", "", "the `password` (for scripts; otherwise asked or read from stdin)")
	cost := fs.Int("cost", auth.DefaultCost, "bcrypt `cost` (each verification doubles with every step)")
	usage := func() {
		fmt.Fprint(stderr, passwdUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "mqttio passwd: %v (see mqttio passwd --help)\n", err)
		return exitUsage
	}
	if len(pos) != 3 || (pos[0] != "add" && pos[0] != "delete") {
		fmt.Fprintln(stderr, "mqttio passwd: want add FILE USER or delete FILE USER (see mqttio passwd --help)")
		return exitUsage
	}
	op, file, user := pos[0], pos[1], pos[2]
	if op == "delete" {
		if err := auth.DeleteUser(file, user); err != nil {
			fmt.Fprintln(stderr, "mqttio passwd:", err)
			return exitError
		}
		fmt.Fprintf(stdout, "deleted %s from %s\n", user, file)
		return exitOK
	}
	if *cost < 4 || *cost > 31 {
		fmt.Fprintln(stderr, "mqttio passwd: --cost must be between 4 and 31")
		return exitUsage
	}
	if err := auth.ValidUsername(user); err != nil {
		fmt.Fprintln(stderr, "mqttio passwd:", err)
		return exitUsage
	}
	pw := []byte(*password)
	if len(pw) == 0 {
		if pw, err = readPassword(stdin, stderr); err != nil {
			fmt.Fprintln(stderr, "mqttio passwd:", err)
			return exitUsage
		}
	}
	if err := auth.AddUser(file, user, pw, *cost); err != nil {
		fmt.Fprintln(stderr, "mqttio passwd:", err)
		return exitError
	}
	fmt.Fprintf(stdout, "set the password of %s in %s\n", user, file)
	return exitOK
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// readPassword asks twice on a terminal (without echo), or reads the
// first line of a pipe.
func readPassword(stdin io.Reader, prompt io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(prompt, "Password: ")
		p1, err := readNoEcho(f)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(prompt, "Reenter password: ")
		p2, err := readNoEcho(f)
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		if string(p1) != string(p2) {
			return nil, errors.New("the passwords do not match")
		}
		if len(p1) == 0 {
			return nil, errors.New("empty password")
		}
		return p1, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("no password on standard input (or use --password)")
	}
	return []byte(line), nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// readLine reads up to a newline, one byte at a time so nothing after the
// line is consumed.
func readLine(r io.Reader) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return []byte(strings.TrimRight(string(line), "\r")), nil
			}
			line = append(line, b[0])
			if len(line) > 4096 {
				return nil, errors.New("password line too long")
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}
