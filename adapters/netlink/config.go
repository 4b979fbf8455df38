package netlink

import (
	"log/slog"
	"time"
)

// Config configures a Datapath. The zero value works on a node: it acts on
// the namespace the process runs in.
type Config struct {
	// Netns is the path of the network namespace holding the node's links
	// (the "host" side). Empty means the namespace the process runs in;
	// tests point it at a scratch namespace.
	Netns string
	// ProcSys is where sysctls are written. Empty means /proc/sys. The
	// net/ subtree belongs to the namespace of the thread that opens a
	// file, so writes for Netns are made from a thread inside it.
	ProcSys string
	// VethPrefix names pod host veths; Render shows links with it. Empty
	// means DefaultVethPrefix.
	VethPrefix string
	// LinkWaitAttempts and LinkWaitInterval bound the wait for an ENI's link
	// to appear after attachment (looked up by MAC). Defaults: 5 and 1 s.
	LinkWaitAttempts int
	LinkWaitInterval time.Duration
	// DumpAttempts bounds how often an interrupted netlink dump is retried
	// (the kernel flags a dump that raced with a change). Default 5.
	DumpAttempts int
	// Logger gets one line per repair. Empty means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ProcSys == "" {
		c.ProcSys = "/proc/sys"
	}
	if c.VethPrefix == "" {
		c.VethPrefix = DefaultVethPrefix
	}
	if c.LinkWaitAttempts <= 0 {
		c.LinkWaitAttempts = 5
	}
	if c.LinkWaitInterval <= 0 {
		c.LinkWaitInterval = time.Second
	}
	if c.DumpAttempts <= 0 {
		c.DumpAttempts = 5
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
