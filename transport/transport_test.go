package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	var d Deadline
	select {
	case <-d.Done():
		t.Fatal("no deadline set, yet done")
	default:
	}
	d.Set(time.Now().Add(-time.Second))
	<-d.Done() // past: done at once
	d.Set(time.Time{})
	select {
	case <-d.Done():
		t.Fatal("cleared, yet done")
	default:
	}
	// Re-arming while someone waits moves the deadline.
	d.Set(time.Now().Add(time.Hour))
	ch := d.Done()
	d.Set(time.Now().Add(5 * time.Millisecond))
	<-ch
}

func TestInbox(t *testing.T) {
	in := Inbox{Limit: 4}
	if err := in.Push([]byte("abcdef"), nil); err != nil { // admitted: the inbox was empty
		t.Fatal(err)
	}
	cancel := make(chan struct{})
	close(cancel)
	if err := in.Push([]byte("g"), cancel); err == nil {
		t.Fatal("Push into a full inbox did not block")
	}
	pushed := make(chan error)
	go func() { pushed <- in.Push([]byte("gh"), nil) }()
	buf := make([]byte, 4)
	if n, err := in.Read(buf, nil); n != 4 || err != nil || string(buf) != "abcd" {
		t.Fatalf("Read = %d %v %q", n, err, buf[:n])
	}
	if n, _ := in.Read(buf, nil); string(buf[:n]) != "ef" {
		t.Fatalf("Read = %q", buf[:n])
	}
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	in.Close(nil)
	if n, err := in.Read(buf, nil); string(buf[:n]) != "gh" || err != nil {
		t.Fatalf("Read after Close = %q %v; want the rest first", buf[:n], err)
	}
	if _, err := in.Read(buf, nil); err != io.EOF {
		t.Fatalf("Read drained = %v", err)
	}
	var d Deadline
	d.Set(time.Now())
	if _, err := (&Inbox{Limit: 1}).Read(buf, d.Done()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %v", err)
	}
}

func TestListener(t *testing.T) {
	l := NewListener(Addr{"test", "x"}, 1)
	a, b := net.Pipe()
	defer b.Close()
	if err := l.Deliver(a, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.Deliver(a, time.Millisecond); err == nil {
		t.Fatal("Deliver past a full backlog succeeded")
	}
	if c, err := l.Accept(); c != a || err != nil {
		t.Fatalf("Accept = %v %v", c, err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	if err := l.Deliver(a, time.Second); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Deliver after Close = %v", err)
	}
}

func TestCORS(t *testing.T) {
	c := CORS{AllowedOrigins: []string{"https://a.example"}}
	for _, tc := range []struct {
		origin, host string
		ok           bool
	}{
		{"", "h", true}, {"https://h:8080", "h:8080", true}, {"https://a.example", "h", true}, {"https://b.example", "h", false},
	} {
		if c.Allowed(tc.origin, tc.host) != tc.ok {
			t.Errorf("Allowed(%q, %q) = %v", tc.origin, tc.host, !tc.ok)
		}
	}
	if !(CORS{AllowedOrigins: []string{"*"}}).Allowed("https://any", "h") {
		t.Error(`"*" refused an origin`)
	}
}
