package local

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/firewall"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
)

// nodePortComment tags the harness's own DNAT rule.
const nodePortComment = "vpc-cni local NodePort check"

// nodePortTable is the nftables table of the harness's DNAT rule.
const nodePortTable = "vpccni_local_nodeport"

// addNodePort installs, in the node's namespace and with the firewall
// flavour ipamd uses there, the DNAT kube-proxy would program for a
// NodePort: <primary>:30080 → <pod>:8080. It returns the undo.
func addNodePort(ctx context.Context, n *Node, primary, pod netip.Addr) (func() error, error) {
	switch n.Firewall {
	case firewall.BackendIptablesLegacy, firewall.BackendIptablesNFT:
		bin, err := iptables.LookBinary(n.Firewall)
		if err != nil {
			return nil, err
		}
		rule := func(op string) []string {
			return []string{"-w", "10", "-t", "nat", op, "PREROUTING", "-d", primary.String() + "/32", "-p", "tcp",
				"--dport", strconv.Itoa(NodePortPort), "-m", "comment", "--comment", nodePortComment,
				"-j", "DNAT", "--to-destination", netip.AddrPortFrom(pod, probePort).String()}
		}
		if err := runIn(ctx, n.Netns, bin, rule("-A")...); err != nil {
			return nil, err
		}
		return func() error { return runIn(context.Background(), n.Netns, bin, rule("-D")...) }, nil
	case firewall.BackendNFTables:
		if err := nftNodePort(n.Netns, primary, pod); err != nil {
			return nil, err
		}
		return func() error { return nftDelTable(n.Netns) }, nil
	default:
		return nil, fmt.Errorf("no NodePort rule for firewall %q", n.Firewall)
	}
}

// runIn runs a command in the network namespace at path.
func runIn(ctx context.Context, path, bin string, args ...string) error {
	var out []byte
	var cerr error
	if err := netns.Do(path, func() error {
		out, cerr = exec.CommandContext(ctx, bin, args...).CombinedOutput()
		return nil
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), cerr, strings.TrimSpace(string(out)))
	}
	return nil
}

// outputIn runs a command in the namespace and returns its stdout.
func outputIn(path, bin string, args ...string) ([]byte, error) {
	var out []byte
	var cerr error
	if err := netns.Do(path, func() error {
		out, cerr = exec.Command(bin, args...).Output()
		return nil
	}); err != nil {
		return nil, err
	}
	return out, cerr
}

func nftConn(path string) (*nftables.Conn, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return c, func() { f.Close() }, nil
}

func nftNodePort(path string, primary, pod netip.Addr) error {
	c, done, err := nftConn(path)
	if err != nil {
		return err
	}
	defer done()
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: nodePortTable})
	ch := c.AddChain(&nftables.Chain{
		Name: "prerouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest,
	})
	p4, d4 := primary.As4(), pod.As4()
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
		// ip daddr <primary>
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p4[:]},
		// tcp dport 30080
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(NodePortPort)},
		// dnat to <pod>:8080
		&expr.Immediate{Register: 1, Data: d4[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(probePort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables NodePort rule: %w", err)
	}
	return nil
}

func nftDelTable(path string) error {
	c, done, err := nftConn(path)
	if err != nil {
		return err
	}
	defer done()
	c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: nodePortTable})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", nodePortTable, err)
	}
	return nil
}
