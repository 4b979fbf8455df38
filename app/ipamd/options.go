package ipamd

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/adapters/rpcserver"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Adapter choices.
const (
	CloudAWS      = "aws"
	CloudMemory   = "memory"
	CloudEmulator = "emulator"

	DatapathNetlink = "netlink"
	DatapathMemory  = "memory"

	FirewallAuto           = "auto"
	FirewallIPTablesLegacy = "iptables-legacy"
	FirewallIPTablesNFT    = "iptables-nft"
	FirewallNFTables       = "nftables"
	FirewallMemory         = "memory"
)

// Environment variables that stand in for the adapter flags.
const (
	EnvCloud    = "VPC_CNI_CLOUD"
	EnvDatapath = "VPC_CNI_DATAPATH"
	EnvFirewall = "VPC_CNI_FIREWALL"
)

// DefaultDatapathInterval is the period of the datapath repair loop.
const DefaultDatapathInterval = 30 * time.Second

// DefaultOrphanInterval is the period of the pass that releases the
// addresses of pods whose host veth is gone, and DefaultOrphanMinAge how
// long an address must have been held (or last handed out) before that
// pass may take it back: an ADD has assigned it but not yet created the
// veth for a moment.
const (
	DefaultOrphanInterval = time.Minute
	DefaultOrphanMinAge   = time.Minute
)

// Options choose the adapters and endpoints of one daemon. Flags fill them
// (ParseFlags); tests and local runs may also set the hooks and overrides,
// which have no flag.
type Options struct {
	// Cloud is aws, memory or emulator.
	Cloud string
	// Datapath is netlink or memory.
	Datapath string
	// Firewall is auto, iptables-legacy, iptables-nft, nftables or memory.
	Firewall string

	// InstanceType, SubnetCIDR and VPCCIDR shape the simulated instance of
	// the memory and emulator clouds.
	InstanceType string
	SubnetCIDR   netip.Prefix
	VPCCIDR      netip.Prefix

	// Socket is the gRPC socket path.
	Socket string
	// MetricsAddress is where /metrics is served (host:port).
	MetricsAddress string
	// PrimaryInterface names the node's primary link; empty lets the
	// datapath find it by the primary ENI's MAC (the firewall's NodePort
	// rule then names eth0, its default).
	PrimaryInterface string
	// DatapathInterval is the period of the datapath repair loop.
	DatapathInterval time.Duration
	// OrphanInterval is the period of the orphaned-address pass, and
	// OrphanMinAge the age below which it keeps an address whatever the
	// host shows (see DefaultOrphanInterval). No flags: tests shorten them.
	OrphanInterval time.Duration
	OrphanMinAge   time.Duration
	// PrintVersion prints the version and exits (--version).
	PrintVersion bool
	// StartTimeout bounds start-up (instance discovery, checkpoint restore,
	// host datapath); StopTimeout bounds shutdown.
	StartTimeout time.Duration
	StopTimeout  time.Duration

	// Lookup reads environment variables; os.LookupEnv when nil.
	Lookup func(string) (string, bool)
	// Stdout and Stderr receive logs when AWS_VPC_K8S_CNI_LOG_FILE is
	// stdout or stderr; os.Stdout and os.Stderr when nil.
	Stdout, Stderr io.Writer

	// BeforeHostSetup is called before each SetupHost with the primary
	// ENI, and BeforeENISetup before each SetupENI with the ENI about to be
	// wired (when it attaches, at start and at every repair pass). Local
	// runs plug a "hypervisor" in here that creates the link EC2 would
	// have attached, with the ENI's MAC. Both must be idempotent.
	BeforeHostSetup func(primary core.ENI) error
	BeforeENISetup  func(eni core.ENI) error

	// MemoryCloud, with MemoryInstance, replaces the simulated region
	// --cloud=memory would create, so a test can restart the daemon on the
	// same "EC2" state. Only used with Cloud=memory.
	MemoryCloud    *memory.Cloud
	MemoryInstance core.InstanceID

	// HostNetwork and FirewallBackend, when set, replace the adapters the
	// Datapath and Firewall choices would build.
	HostNetwork     ports.HostNetwork
	FirewallBackend ports.Firewall
}

// DefaultOptions are the daemon's defaults on a node.
func DefaultOptions() Options {
	return Options{
		Cloud:            CloudAWS,
		Datapath:         DatapathNetlink,
		Firewall:         FirewallAuto,
		InstanceType:     "m5.large",
		SubnetCIDR:       netip.MustParsePrefix("10.0.0.0/19"),
		VPCCIDR:          netip.MustParsePrefix("10.0.0.0/16"),
		Socket:           rpcserver.DefaultSocket,
		MetricsAddress:   metrics.DefaultAddress,
		DatapathInterval: DefaultDatapathInterval,
		OrphanInterval:   DefaultOrphanInterval,
		OrphanMinAge:     DefaultOrphanMinAge,
		StartTimeout:     5 * time.Minute,
		StopTimeout:      8 * time.Second,
	}
}

func (o Options) lookup(name string) (string, bool) {
	if o.Lookup == nil {
		return os.LookupEnv(name)
	}
	return o.Lookup(name)
}

// ParseFlags reads the command line over base. The adapter flags default
// to their environment variables (VPC_CNI_CLOUD, VPC_CNI_DATAPATH,
// VPC_CNI_FIREWALL), read through base.Lookup, so a flag beats the
// variable, which beats the default. It returns flag.ErrHelp for -h.
func ParseFlags(base Options, args []string, output io.Writer) (Options, error) {
	o := base
	for _, e := range []struct {
		name string
		dst  *string
	}{{EnvCloud, &o.Cloud}, {EnvDatapath, &o.Datapath}, {EnvFirewall, &o.Firewall}} {
		if v, ok := o.lookup(e.name); ok && strings.TrimSpace(v) != "" {
			*e.dst = strings.TrimSpace(v)
		}
	}
	fs := flag.NewFlagSet("aws-k8s-agent", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.Cloud, "cloud", o.Cloud, "cloud adapter: aws, memory or emulator (env "+EnvCloud+")")
	fs.StringVar(&o.Datapath, "datapath", o.Datapath, "datapath adapter: netlink or memory (env "+EnvDatapath+")")
	fs.StringVar(&o.Firewall, "firewall", o.Firewall, "firewall backend: auto, iptables-legacy, iptables-nft, nftables or memory (env "+EnvFirewall+")")
	fs.StringVar(&o.InstanceType, "instance-type", o.InstanceType, "instance type of the simulated instance (memory and emulator clouds)")
	fs.Func("subnet-cidr", "subnet of the simulated instance (default "+o.SubnetCIDR.String()+")", prefixFlag(&o.SubnetCIDR))
	fs.Func("vpc-cidr", "VPC CIDR of the simulated instance (default "+o.VPCCIDR.String()+")", prefixFlag(&o.VPCCIDR))
	fs.StringVar(&o.Socket, "socket", o.Socket, "gRPC socket the CNI plugin calls")
	fs.StringVar(&o.MetricsAddress, "metrics-address", o.MetricsAddress, "listen address of the Prometheus endpoint")
	fs.StringVar(&o.PrimaryInterface, "primary-interface", o.PrimaryInterface, "primary network interface (default: found by the primary ENI's MAC)")
	fs.DurationVar(&o.DatapathInterval, "datapath-interval", o.DatapathInterval, "period of the datapath repair loop")
	fs.BoolVar(&o.PrintVersion, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: %w", fs.Args(), core.ErrInvalidParameter)
	}
	return o, o.validate()
}

func prefixFlag(dst *netip.Prefix) func(string) error {
	return func(s string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("want a CIDR such as 10.0.0.0/16: %w", err)
		}
		*dst = p.Masked()
		return nil
	}
}

func oneOf(what, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s %q: want one of %s: %w", what, v, strings.Join(allowed, ", "), core.ErrInvalidParameter)
}

// validate checks the choices (not whether their adapters are built in:
// that is a start-up error naming the adapter).
func (o Options) validate() error {
	if err := oneOf("--cloud", o.Cloud, CloudAWS, CloudMemory, CloudEmulator); err != nil {
		return err
	}
	if err := oneOf("--datapath", o.Datapath, DatapathNetlink, DatapathMemory); err != nil {
		return err
	}
	if err := oneOf("--firewall", o.Firewall, FirewallAuto, FirewallIPTablesLegacy, FirewallIPTablesNFT, FirewallNFTables, FirewallMemory); err != nil {
		return err
	}
	if o.DatapathInterval <= 0 {
		return fmt.Errorf("--datapath-interval %s must be positive: %w", o.DatapathInterval, core.ErrInvalidParameter)
	}
	if o.OrphanInterval <= 0 {
		return fmt.Errorf("orphan pass interval %s must be positive: %w", o.OrphanInterval, core.ErrInvalidParameter)
	}
	if o.OrphanMinAge < 0 {
		return fmt.Errorf("orphan minimum age %s must not be negative: %w", o.OrphanMinAge, core.ErrInvalidParameter)
	}
	return nil
}
