package nftables

import (
	"log/slog"

	"github.com/vpc-cni/vpc-cni/ports"
)

// Config configures the native nftables backend.
type Config struct {
	// NetNS is the network namespace to program (a path such as
	// /run/netns/NAME); empty means the caller's namespace.
	NetNS  string
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// BackendName is what Name returns.
const BackendName = "nftables"

var _ ports.Firewall = (*Firewall)(nil)

// Name returns "nftables".
func (f *Firewall) Name() string { return BackendName }
