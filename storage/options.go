package storage

import (
	"errors"
	"log/slog"
	"time"
)

// Defaults applied by Open to zero-valued Options fields.
const (
	DefaultMaxBatch      = 4096
	DefaultMaxQueueBytes = 64 << 20
	DefaultLockTimeout   = 2 * time.Second
)

// Options configure Open. Only Path is required.
type Options struct {
	// Path of the bbolt file. Its directory is created (0o700) if missing.
	Path string

	// MaxBatch is the most ops the committer puts in one transaction. A
	// single Commit with more ops is still written whole, alone. Large
	// transactions hold more dirty pages in memory and delay the callbacks
	// of everyone in them; 4096 small ops is well under a megabyte.
	MaxBatch int

	// MaxDelay is how long the committer may wait for more work when fewer
	// than MaxBatch ops are queued. The default, 0, commits as soon as the
	// previous transaction finished: batching then comes only from work that
	// piled up during the previous fsync, which costs no latency at low load.
	MaxDelay time.Duration

	// MaxQueueBytes bounds the memory held by queued and in-flight commits.
	// Commit blocks its caller while the bound would be exceeded (see the
	// package doc). Default 64 MiB.
	MaxQueueBytes int64

	// LockTimeout is how long Open waits for the file lock held by another
	// process (or another Open in this one) before failing. Default 2s.
	LockTimeout time.Duration

	// NoSync skips fsync. Only for tests and benchmarks: a crash can lose
	// acknowledged commits or corrupt the file.
	NoSync bool

	// Logger receives write errors. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.Path == "" {
		return errors.New("storage: Options.Path is empty")
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxDelay < 0 {
		o.MaxDelay = 0
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}
