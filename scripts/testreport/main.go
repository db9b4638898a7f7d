// Command testreport turns `go test -json` output into a short report: the
// package lines of go test (ok, FAIL, no test files), build errors, the
// full output of every failed test, and a closing line with the totals:
//
//	tests: 412 passed, 0 failed, 0 skipped
//
// Passing tests' output is dropped. It exits 1 if any test, package or
// build failed, or if no test ran at all.
//
//	go test -json ./... | go run ./scripts/testreport [-summary FILE]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

type report struct {
	out                     io.Writer
	passed, failed, skipped int
	failedPackages          int
	buffers                 map[string]*strings.Builder // package + "\x00" + test → output
}

func newReport(out io.Writer) *report {
	return &report{out: out, buffers: map[string]*strings.Builder{}}
}

func (r *report) flush(key string) {
	if b := r.buffers[key]; b != nil {
		io.WriteString(r.out, b.String())
		delete(r.buffers, key)
	}
}

func (r *report) line(raw string) {
	var ev event
	if err := json.Unmarshal([]byte(raw), &ev); err != nil || ev.Action == "" {
		fmt.Fprintln(r.out, raw) // not an event: pass it through
		return
	}
	key := ev.Package + "\x00" + ev.Test
	switch ev.Action {
	case "build-output":
		io.WriteString(r.out, ev.Output)
	case "build-fail":
		r.failedPackages++
	case "output":
		if ev.Test == "" {
			// Package-level: go test's "ok", "FAIL", "?" lines, and what a
			// test binary prints outside any test (a panic in TestMain).
			if ev.Output != "PASS\n" {
				io.WriteString(r.out, ev.Output)
			}
			return
		}
		b := r.buffers[key]
		if b == nil {
			b = &strings.Builder{}
			r.buffers[key] = b
		}
		b.WriteString(ev.Output)
	case "pass", "skip":
		if ev.Test != "" {
			if ev.Action == "pass" {
				r.passed++
			} else {
				r.skipped++
			}
			delete(r.buffers, key)
		}
	case "fail":
		if ev.Test != "" {
			r.failed++
			// Parents first: what TestA printed before its subtest
			// TestA/b failed (the "=== RUN" line, setup logs) reads best
			// above it. The parent's later output follows when it fails.
			for i := range len(ev.Test) {
				if ev.Test[i] == '/' {
					r.flush(ev.Package + "\x00" + ev.Test[:i])
				}
			}
			r.flush(key)
			return
		}
		r.failedPackages++
		// Tests that never finished (a panic, a timeout) belong to the
		// failure: show what they printed.
		prefix := ev.Package + "\x00"
		for k := range r.buffers {
			if strings.HasPrefix(k, prefix) {
				r.flush(k)
			}
		}
	}
}

func (r *report) summary() string {
	return fmt.Sprintf("tests: %d passed, %d failed, %d skipped", r.passed, r.failed, r.skipped)
}

func (r *report) ok() bool {
	return r.failed == 0 && r.failedPackages == 0 && r.passed > 0
}

func main() {
	summaryFile := flag.String("summary", "", "also write the totals line to this file")
	flag.Parse()
	r := newReport(os.Stdout)
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		r.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(1)
	}
	s := r.summary()
	fmt.Println(s)
	if *summaryFile != "" {
		if err := os.WriteFile(*summaryFile, []byte(s+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(1)
		}
	}
	if !r.ok() {
		if r.passed == 0 && r.failed == 0 {
			fmt.Println("testreport: no test ran")
		}
		os.Exit(1)
	}
}
