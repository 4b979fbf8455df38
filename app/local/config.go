package local

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/firewall"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

// Modes.
const (
	// ModeKernel runs the real binaries in network namespaces (root).
	ModeKernel = "kernel"
	// ModeMemory runs ipamd and the plugin logic in-process on the
	// in-memory datapath (no root needed, no packets).
	ModeMemory = "memory"
)

// Defaults of Config.
const (
	DefaultNodes        = 1
	DefaultPods         = 20
	DefaultInstanceType = "m5.xlarge"
	// MaxNodes bounds --nodes: one /20 subnet per node in 10.0.0.0/16,
	// leaving the last /20 for the VPC's own endpoints.
	MaxNodes = 8
	// DefaultIntrospectionAddress is where ipamd's introspection is served
	// on the machine, as on a node.
	DefaultIntrospectionAddress = "127.0.0.1:61679"
)

// Config describes one local bring-up.
type Config struct {
	// Nodes is the number of simulated instances (1..MaxNodes).
	Nodes int
	// Pods is the number of pods added on each node by Run.
	Pods int
	// Firewall is ipamd's --firewall: auto, iptables-legacy, iptables-nft
	// or nftables (kernel mode; memory mode always uses the in-memory
	// firewall).
	Firewall string
	// ExternalSNAT sets AWS_VPC_K8S_CNI_EXTERNALSNAT=true: the node does no
	// SNAT, so the internet sees pod addresses.
	ExternalSNAT bool
	// InstanceType of every node (default m5.xlarge: 4 ENIs of 15
	// addresses, so a few dozen pods need secondary ENIs).
	InstanceType string
	// Mode is ModeKernel, ModeMemory or "" (kernel when root, else memory).
	Mode string
	// BinDir holds aws-cni and aws-k8s-agent (kernel mode).
	BinDir string
	// WorkDir holds sockets, checkpoints, logs and the CNI cache; a fresh
	// temporary directory (removed by Close unless KeepWorkDir) when empty.
	WorkDir     string
	KeepWorkDir bool
	// RunID names this run's namespaces ("vpccni-<RunID>-..."); random
	// when empty. Letters, digits and '-', at most 12 characters.
	RunID string
	// RemoveStale deletes namespaces left with this RunID's prefix by an
	// earlier run that crashed (and ends the processes still in them).
	// Only sensible with a fixed RunID.
	RemoveStale bool
	// Parallel is how many CNI ADDs run at once on a node (default 1, as
	// measured latencies then mean one pod at a time).
	Parallel int
	// Env adds or overrides ipamd environment variables.
	Env map[string]string
	// EC2Latency delays the simulated EC2 operations (memory.Op* names);
	// none by default.
	EC2Latency map[string]time.Duration
	// ProbeTimeout bounds each connectivity probe (default 2 s).
	ProbeTimeout time.Duration
	// Log receives progress lines; discarded when nil.
	Log *slog.Logger
}

var runIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,11}$`)

// withDefaults fills zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return c, fmt.Errorf("nodes %d: want 1 to %d: %w", c.Nodes, MaxNodes, core.ErrInvalidParameter)
	}
	if c.Pods < 0 {
		return c, fmt.Errorf("pods %d: must not be negative: %w", c.Pods, core.ErrInvalidParameter)
	}
	if c.Firewall == "" {
		c.Firewall = firewall.BackendAuto
	}
	if err := firewall.ValidateBackend(c.Firewall); err != nil {
		return c, err
	}
	if c.InstanceType == "" {
		c.InstanceType = DefaultInstanceType
	}
	if _, ok := limits.Lookup(c.InstanceType); !ok {
		return c, fmt.Errorf("instance type %q: %w", c.InstanceType, core.ErrUnknownInstanceType)
	}
	switch c.Mode {
	case "":
		c.Mode = ModeMemory
		if IsRoot() {
			c.Mode = ModeKernel
		}
	case ModeKernel:
		if !IsRoot() {
			return c, fmt.Errorf("kernel mode needs root (it creates network namespaces, links and firewall rules): %w", core.ErrInvalidState)
		}
	case ModeMemory:
	default:
		return c, fmt.Errorf("mode %q: want %s or %s: %w", c.Mode, ModeKernel, ModeMemory, core.ErrInvalidParameter)
	}
	if c.RunID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		c.RunID = hex.EncodeToString(b)
	}
	if !runIDPattern.MatchString(c.RunID) {
		return c, fmt.Errorf("run id %q: want 1-12 of [a-z0-9-]: %w", c.RunID, core.ErrInvalidParameter)
	}
	if c.Parallel <= 0 {
		c.Parallel = 1
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 2 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// IsRoot reports whether the process may create network namespaces.
func IsRoot() bool { return os.Geteuid() == 0 }

// FindBinDir returns the first of dirs holding both aws-cni and
// aws-k8s-agent, or an error saying how to build them.
func FindBinDir(dirs ...string) (string, error) {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if isExecutable(filepath.Join(d, "aws-cni")) && isExecutable(filepath.Join(d, "aws-k8s-agent")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("find the aws-cni and aws-k8s-agent binaries in %q (run `make build`): %w", dirs, core.ErrNotFound)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
