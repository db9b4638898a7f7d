package main

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses: fields are counted after
	// the last ')'. utime (14) = 1500, stime (15) = 250.
	line := "4242 (my (odd) broker) S 1 4242 4242 0 -1 4194560 900 0 0 0 1500 250 0 0 20 0 7 0 123 456789 1234 18446744073709551615\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 1750 {
		t.Fatalf("parseStatCPU = %d, %v; want 1750", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 1 0 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q): no error", bad)
		}
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tmosquitto\nVmPeak:\t   20000 kB\nVmRSS:\t    6124 kB\nThreads:\t1\n"
	got, err := parseStatusRSS([]byte(status))
	if err != nil || got != 6124*1024 {
		t.Fatalf("parseStatusRSS = %d, %v; want %d", got, err, 6124*1024)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseStatusRSS([]byte(bad)); err == nil {
			t.Errorf("parseStatusRSS(%q): no error", bad)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rssBytes == 0 {
		t.Error("own RSS is zero")
	}
	if _, err := readProc(-1); err == nil {
		t.Error("pid -1: no error")
	}
}
