//go:build !linux

package netpoll

type pollImpl struct{}

func newImpl() (pollImpl, error)                       { return pollImpl{}, ErrUnsupported }
func (p *pollImpl) add(int, uint64) error              { return ErrUnsupported }
func (p *pollImpl) wait([]uint64, []bool) (int, error) { return 0, ErrUnsupported }
func (p *pollImpl) wakeup()                            {}
func (p *pollImpl) close()                             {}
