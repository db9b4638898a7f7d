//go:build linux

package netpoll

import (
	"encoding/binary"
	"os"
	"syscall"
	"unsafe"
)

// pollImpl is an edge-triggered epoll set. The epoll descriptor itself is
// non-blocking and registered with Go's own network poller (through an
// os.File), so the goroutine waiting for events parks like any network
// read instead of blocking an OS thread in epoll_wait: a blocked thread
// would keep its scheduler slot until sysmon noticed, which delays the
// workers by up to milliseconds when the process runs on one core.
type pollImpl struct {
	epfd   int
	file   *os.File // epfd, for Go's poller
	raw    syscall.RawConn
	wakefd [2]int // a pipe whose read end wakes the waiter on Close
	events []syscall.EpollEvent
	n      int   // events returned by the last epoll_wait
	err    error // its error
	waitFn func(fd uintptr) bool
}

func newImpl() (pollImpl, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return pollImpl{}, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return pollImpl{}, err
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return pollImpl{}, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, 0)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		return pollImpl{}, err
	}
	f := os.NewFile(uintptr(epfd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return pollImpl{}, err
	}
	return pollImpl{epfd: epfd, file: f, raw: raw, wakefd: pipe, events: make([]syscall.EpollEvent, 256)}, nil
}

// setToken stores our 64-bit token in the event's data (the Fd and Pad
// fields of syscall.EpollEvent are the kernel's 64-bit data union).
func setToken(ev *syscall.EpollEvent, t uint64) {
	b := (*[8]byte)(unsafe.Pointer(&ev.Fd))
	binary.NativeEndian.PutUint64(b[:], t)
}

func token(ev *syscall.EpollEvent) uint64 {
	b := (*[8]byte)(unsafe.Pointer(&ev.Fd))
	return binary.NativeEndian.Uint64(b[:])
}

// add registers fd edge-triggered: one event per arrival of data (or
// hang-up), no re-arming after each wake. Registering a socket that
// already has data queues an event at once.
func (p *pollImpl) add(fd int, t uint64) error {
	const edge = 1 << 31 // EPOLLET; syscall declares it as a negative int
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | edge}
	setToken(&ev, t)
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

// wait returns the tokens of ready connections, and for each whether the
// peer hung up, parking the goroutine in Go's poller while there are none.
func (p *pollImpl) wait(tokens []uint64, hup []bool) (int, error) {
	if p.waitFn == nil {
		p.waitFn = func(fd uintptr) bool {
			p.n, p.err = syscall.EpollWait(int(fd), p.events, 0)
			// Nothing ready: let Go's poller park us until the epoll fd
			// becomes readable.
			return !(p.n == 0 && p.err == nil) && p.err != syscall.EAGAIN
		}
	}
	p.events = p.events[:min(len(tokens), cap(p.events))]
	if err := p.raw.Read(p.waitFn); err != nil {
		return 0, err
	}
	if p.err != nil {
		return 0, p.err
	}
	for i := range p.n {
		tokens[i] = token(&p.events[i])
		hup[i] = p.events[i].Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	}
	return p.n, nil
}

func (p *pollImpl) wakeup() { syscall.Write(p.wakefd[1], []byte{1}) }

func (p *pollImpl) close() {
	p.file.Close()
	syscall.Close(p.wakefd[0])
	syscall.Close(p.wakefd[1])
}
