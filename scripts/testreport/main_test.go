package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func ev(action, pkg, test, output string) string {
	b, _ := json.Marshal(event{Action: action, Package: pkg, Test: test, Output: output})
	return string(b)
}

func TestReport(t *testing.T) {
	const a, b, c = "example.com/a", "example.com/b", "example.com/c"
	lines := []string{
		ev("start", a, "", ""),
		ev("run", a, "TestOK", ""),
		ev("output", a, "TestOK", "=== RUN   TestOK\n"),
		ev("output", a, "TestOK", "    a_test.go:9: quiet log of a passing test\n"),
		ev("output", a, "TestOK", "--- PASS: TestOK (0.00s)\n"),
		ev("pass", a, "TestOK", ""),
		ev("run", a, "TestBad", ""),
		ev("output", a, "TestBad", "=== RUN   TestBad\n"),
		ev("run", a, "TestBad/sub", ""),
		ev("output", a, "TestBad/sub", "    a_test.go:20: want 1, got 2\n"),
		ev("output", a, "TestBad/sub", "    --- FAIL: TestBad/sub (0.00s)\n"),
		ev("fail", a, "TestBad/sub", ""),
		ev("output", a, "TestBad", "--- FAIL: TestBad (0.00s)\n"),
		ev("fail", a, "TestBad", ""),
		ev("run", a, "TestSkip", ""),
		ev("skip", a, "TestSkip", ""),
		ev("output", a, "", "FAIL\n"),
		ev("output", a, "", "FAIL\texample.com/a\t0.01s\n"),
		ev("fail", a, "", ""),
		`{"ImportPath":"example.com/b","Action":"build-output","Output":"b.go:3:1: syntax error\n"}`,
		`{"ImportPath":"example.com/b","Action":"build-fail"}`,
		ev("run", c, "TestHang", ""),
		ev("output", c, "TestHang", "panic: test timed out after 1s\n"),
		ev("output", c, "", "FAIL\texample.com/c\t1.00s\n"),
		ev("fail", c, "", ""),
		ev("output", "example.com/d", "", "PASS\n"),
		ev("output", "example.com/d", "", "ok  \texample.com/d\t0.01s\n"),
		"go: downloading example.com/e v1.0.0",
	}
	var out strings.Builder
	r := newReport(&out)
	for _, l := range lines {
		r.line(l)
	}
	got := out.String()
	for _, want := range []string{
		"want 1, got 2", "--- FAIL: TestBad (0.00s)", "FAIL\texample.com/a",
		"b.go:3:1: syntax error", "panic: test timed out", "ok  \texample.com/d",
		"go: downloading example.com/e",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"quiet log", "--- PASS", "PASS\n"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("report shows %q:\n%s", unwanted, got)
		}
	}
	if i, j := strings.Index(got, "=== RUN   TestBad"), strings.Index(got, "want 1, got 2"); i < 0 || i > j {
		t.Errorf("the parent's output does not come first:\n%s", got)
	}
	if s := r.summary(); s != "tests: 1 passed, 2 failed, 1 skipped" {
		t.Errorf("summary %q", s)
	}
	if r.ok() || r.failedPackages != 3 {
		t.Errorf("ok %v, failed packages %d", r.ok(), r.failedPackages)
	}

	r = newReport(&out)
	r.line(ev("pass", a, "TestOK", ""))
	if !r.ok() {
		t.Error("a passing run is not ok")
	}
	if newReport(&out).ok() {
		t.Error("a run with no test is ok")
	}
}
