package limits

// NetworkCard is one network card of an instance type.
type NetworkCard struct {
	Index         int
	MaxInterfaces int
}

// InstanceType holds the networking limits of one EC2 instance type.
type InstanceType struct {
	Name string
	// MaxENIs is the number of interfaces on the default network card.
	MaxENIs int
	// IPv4PerENI counts private IPv4 addresses per interface, the
	// interface's own primary address included.
	IPv4PerENI         int
	IPv6PerENI         int
	DefaultNetworkCard int
	NetworkCards       []NetworkCard
	// Hypervisor is "nitro", "xen" or "unknown".
	Hypervisor    string
	BareMetal     bool
	VCPUs         int
	IPv6Supported bool
	EFASupported  bool
}

// PrefixDelegation reports whether the type supports /28 prefix delegation
// (Nitro instances and bare metal).
func (t InstanceType) PrefixDelegation() bool {
	return t.Hypervisor == "nitro" || t.BareMetal
}
