//go:build linux

package netpoll

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

type pollImpl struct {
	epfd   int
	wakefd [2]int // a pipe whose read end wakes epoll_wait on Close
	events []syscall.EpollEvent
}

func newImpl() (pollImpl, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
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
	return pollImpl{epfd: epfd, wakefd: pipe, events: make([]syscall.EpollEvent, 256)}, nil
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

// add registers fd without interest; arm enables one notification.
func (p *pollImpl) add(fd int, t uint64) error {
	ev := syscall.EpollEvent{Events: 0}
	setToken(&ev, t)
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
}

// arm asks for one readability (or hang-up) notification. Level-triggered:
// if data is already there, it fires at once.
func (p *pollImpl) arm(fd int, t uint64) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setToken(&ev, t)
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

func (p *pollImpl) wait(tokens []uint64) (int, error) {
	n, err := syscall.EpollWait(p.epfd, p.events[:min(len(tokens), len(p.events))], -1)
	if err != nil {
		return 0, err
	}
	for i := range n {
		tokens[i] = token(&p.events[i])
	}
	return n, nil
}

func (p *pollImpl) wakeup() { syscall.Write(p.wakefd[1], []byte{1}) }

func (p *pollImpl) close() {
	syscall.Close(p.epfd)
	syscall.Close(p.wakefd[0])
	syscall.Close(p.wakefd[1])
}
