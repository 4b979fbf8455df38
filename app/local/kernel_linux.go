package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/emulator"
	"github.com/vpc-cni/vpc-cni/adapters/firewall"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/core"
)

// ipamdReadyTimeout bounds the wait for a node's ipamd to serve.
const ipamdReadyTimeout = 90 * time.Second

// kernelBackend runs the real binaries in network namespaces.
type kernelBackend struct {
	c      *Cluster
	log    *slog.Logger
	prefix string // "vpccni-<run id>-"

	vpc, inet *space
	nodes     map[int]*space
	made      []string // namespace names created, in order

	emu     *emulator.Server
	servers []*http.Server
	echo    net.Listener

	// hvMu serialises the hypervisor (links of ENIs) and the VPC fabric
	// (routes to them): a route must not be added to a link half made.
	hvMu   sync.Mutex
	procMu sync.Mutex
	procs  map[int]*ipamdProc

	nodePorts []func() error // undo the NodePort DNAT rules
	lock      *os.File       // held while a fixed prefix is ours
	mounts    []*Node        // nodes whose RunDir is a tmpfs of ours
}

// space is a network namespace with a netlink handle in it.
type space struct {
	name, path string
	h          *nl.Handle
}

func newKernelBackend(c *Cluster) (backend, error) {
	if _, err := FindBinDir(c.cfg.BinDir); err != nil {
		return nil, err
	}
	switch c.cfg.Firewall {
	case firewall.BackendIptablesLegacy, firewall.BackendIptablesNFT:
		for _, suffix := range []string{"", "-save", "-restore"} {
			if _, err := iptables.LookBinary(c.cfg.Firewall + suffix); err != nil {
				return nil, fmt.Errorf("firewall %s needs %s%s (apt-get install iptables): %w", c.cfg.Firewall, c.cfg.Firewall, suffix, err)
			}
		}
	}
	return &kernelBackend{
		c: c, log: c.cfg.Log, prefix: "vpccni-" + c.cfg.RunID + "-",
		nodes: map[int]*space{}, procs: map[int]*ipamdProc{},
	}, nil
}

// ---- namespaces -----------------------------------------------------------

func (k *kernelBackend) makeSpace(role string) (*space, error) {
	name := k.prefix + role
	path, err := netns.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	k.made = append(k.made, name)
	s := &space{name: name, path: path}
	if err := netns.Do(path, func() (err error) { s.h, err = nl.NewHandle(unix.NETLINK_ROUTE); return err }); err != nil {
		return nil, fmt.Errorf("open netlink in %s: %w", name, err)
	}
	lo, err := s.h.LinkByName("lo")
	if err == nil {
		err = s.h.LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("bring up lo in %s: %w", name, err)
	}
	return s, nil
}

// sysctl writes net sysctls (dotted keys) inside the namespace.
func (s *space) sysctl(kv ...string) error {
	return netns.Do(s.path, func() error {
		for i := 0; i+1 < len(kv); i += 2 {
			p := "/proc/sys/" + strings.ReplaceAll(kv[i], ".", "/")
			if err := os.WriteFile(p, []byte(kv[i+1]), 0o644); err != nil {
				return fmt.Errorf("set %s=%s: %w", kv[i], kv[i+1], err)
			}
		}
		return nil
	})
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

func (s *space) addAddr(link string, p netip.Prefix) error {
	l, err := s.h.LinkByName(link)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", link, s.name, err)
	}
	if err := s.h.AddrReplace(l, &nl.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("add %s to %s in %s: %w", p, link, s.name, err)
	}
	return nil
}

// vethPair creates name in s with peer in other, both up, with addresses.
func vethPair(s *space, name string, other *space, peer string, mtu int, addr, peerAddr netip.Prefix) error {
	fd, err := os.Open(other.path)
	if err != nil {
		return err
	}
	defer fd.Close()
	attrs := nl.NewLinkAttrs()
	attrs.Name, attrs.MTU = name, mtu
	if err := s.h.LinkAdd(&nl.Veth{LinkAttrs: attrs, PeerName: peer, PeerNamespace: nl.NsFd(int(fd.Fd()))}); err != nil {
		return fmt.Errorf("create veth %s/%s: %w", name, peer, err)
	}
	for _, side := range []struct {
		sp   *space
		name string
		addr netip.Prefix
	}{{s, name, addr}, {other, peer, peerAddr}} {
		l, err := side.sp.h.LinkByName(side.name)
		if err != nil {
			return err
		}
		if err := side.sp.h.LinkSetMTU(l, mtu); err != nil {
			return err
		}
		if err := side.sp.addAddr(side.name, side.addr); err != nil {
			return err
		}
		if err := side.sp.h.LinkSetUp(l); err != nil {
			return err
		}
	}
	return nil
}

// ---- start ----------------------------------------------------------------

func (k *kernelBackend) start(ctx context.Context) error {
	if k.c.cfg.RemoveStale {
		// Only one run may own a fixed prefix; the lock is released when
		// this process exits, so a crashed run does not hold it.
		lock, err := os.OpenFile(filepath.Join(os.TempDir(), k.prefix+"lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open run lock: %w", err)
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			lock.Close()
			return fmt.Errorf("another run owns the namespaces %s* (lock %s): %w", k.prefix, lock.Name(), err)
		}
		k.lock = lock
		for _, r := range removeStale(k.prefix) {
			k.log.Info("removed a namespace left by an earlier run", "namespace", r)
		}
		for _, m := range removeStaleMounts(k.prefix) {
			k.log.Info("removed a tmpfs mount left by an earlier run", "mount", m)
		}
	}
	if err := k.buildNetwork(); err != nil {
		return err
	}
	if err := k.startCloud(); err != nil {
		return err
	}
	if err := k.startEcho(); err != nil {
		return err
	}
	errs := make([]error, len(k.c.nodes))
	var wg sync.WaitGroup
	for i, n := range k.c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = k.startNode(ctx, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// buildNetwork makes the VPC, internet and node namespaces.
func (k *kernelBackend) buildNetwork() error {
	var err error
	if k.vpc, err = k.makeSpace("vpc"); err != nil {
		return err
	}
	if k.inet, err = k.makeSpace("inet"); err != nil {
		return err
	}
	// The VPC routes between ENIs and drops what an ENI sends from an
	// address that is not its own (strict rp_filter standing in for EC2's
	// source/destination check).
	if err := k.vpc.sysctl("net.ipv4.ip_forward", "1", "net.ipv4.conf.all.rp_filter", "1", "net.ipv4.conf.default.rp_filter", "1"); err != nil {
		return err
	}
	for _, a := range []netip.Addr{EC2Endpoint, MetadataAddress} {
		if err := k.vpc.addAddr("lo", hostPrefix(a)); err != nil {
			return err
		}
	}
	if err := vethPair(k.vpc, "inet", k.inet, "vpc", 1500, vpcInternetSide, internetSide); err != nil {
		return err
	}
	inetLink, err := k.vpc.h.LinkByName("inet")
	if err != nil {
		return err
	}
	if err := k.vpc.h.RouteReplace(&nl.Route{LinkIndex: inetLink.Attrs().Index, Gw: net.IP(internetSide.Addr().AsSlice())}); err != nil {
		return fmt.Errorf("VPC default route: %w", err)
	}
	if err := k.inet.addAddr("lo", hostPrefix(InternetServer)); err != nil {
		return err
	}
	vpcLink, err := k.inet.h.LinkByName("vpc")
	if err != nil {
		return err
	}
	if err := k.inet.h.RouteReplace(&nl.Route{LinkIndex: vpcLink.Attrs().Index, Dst: ipNet(VPCCIDR), Gw: net.IP(vpcInternetSide.Addr().AsSlice())}); err != nil {
		return fmt.Errorf("internet route to the VPC: %w", err)
	}
	for _, n := range k.c.nodes {
		s, err := k.makeSpace(n.Name)
		if err != nil {
			return err
		}
		// As on a node image: forwarding on, strict reverse-path filtering
		// by default (ipamd must loosen it on the primary interface for
		// NodePort traffic to pods on secondary ENIs).
		if err := s.sysctl("net.ipv4.ip_forward", "1", "net.ipv4.conf.all.rp_filter", "1", "net.ipv4.conf.default.rp_filter", "1"); err != nil {
			return err
		}
		k.nodes[n.Index] = s
		n.Netns = s.path
	}
	return nil
}

// startCloud serves EC2 and instance metadata from inside the VPC
// namespace; tracking the instances makes the hypervisor plug their
// primary ENIs (eth0).
func (k *kernelBackend) startCloud() error {
	emu, err := emulator.New(emulator.Config{
		Cloud:            k.c.region,
		Log:              k.log.With("component", "emulator"),
		OnAttach:         k.attach,
		OnDetach:         k.detach,
		AllowNonLoopback: true,
	})
	if err != nil {
		return err
	}
	k.emu = emu
	var ids []core.InstanceID
	for _, n := range k.c.nodes {
		ids = append(ids, n.Instance.ID)
	}
	emu.Track(ids...)
	if err := k.syncFabric(); err != nil {
		return err
	}
	for _, l := range []struct {
		addr netip.Addr
		h    http.Handler
	}{{EC2Endpoint, k.ec2Handler()}, {MetadataAddress, k.metadataHandler()}} {
		if err := k.serveInVPC(netip.AddrPortFrom(l.addr, 80), l.h); err != nil {
			return err
		}
	}
	return nil
}

func (k *kernelBackend) serveInVPC(ap netip.AddrPort, h http.Handler) error {
	var ln net.Listener
	err := netns.Do(k.vpc.path, func() (err error) { ln, err = net.Listen("tcp4", ap.String()); return err })
	if err != nil {
		return fmt.Errorf("listen on %s in the VPC namespace: %w", ap, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	k.servers = append(k.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// ec2Handler is the emulator's EC2 API; after an action that may have
// changed addresses, the fabric learns them before the caller gets the
// answer, as EC2 programs its network before replying.
func (k *kernelBackend) ec2Handler() http.Handler {
	inner := k.emu.EC2Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := &bufferedResponse{header: w.Header(), code: http.StatusOK}
		inner.ServeHTTP(buf, r)
		if action := r.Form.Get("Action"); !strings.HasPrefix(action, "Describe") {
			if err := k.syncFabric(); err != nil {
				k.log.Error("update VPC routes", "action", action, "error", err)
			}
		}
		w.WriteHeader(buf.code)
		_, _ = w.Write(buf.body)
	})
}

type bufferedResponse struct {
	header http.Header
	code   int
	body   []byte
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	b.code = code
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.body = append(b.body, p...)
	return len(p), nil
}

// metadataHandler answers at 169.254.169.254 for the instance owning the
// request's source address, as the link-local service does on EC2.
func (k *kernelBackend) metadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		src, err := netip.ParseAddr(host)
		if err == nil {
			src = src.Unmap()
			for _, n := range k.c.nodes {
				if _, ok := eniOwning(k.c.region, n.Instance.ID, src); ok {
					k.emu.IMDSHandler(n.Instance.ID).ServeHTTP(w, r)
					return
				}
			}
		}
		http.Error(w, fmt.Sprintf("no instance owns %s", host), http.StatusNotFound)
	})
}

// startEcho runs the internet server: it answers every connection with
// "<its address> <the client's address>".
func (k *kernelBackend) startEcho() error {
	ap := netip.AddrPortFrom(InternetServer, 80)
	if err := netns.Do(k.inet.path, func() (err error) { k.echo, err = net.Listen("tcp4", ap.String()); return err }); err != nil {
		return fmt.Errorf("listen on %s in the internet namespace: %w", ap, err)
	}
	go serveWhoami(k.echo)
	return nil
}

// ---- the hypervisor -------------------------------------------------------

func (k *kernelBackend) nodeOf(id core.InstanceID) *Node {
	for _, n := range k.c.nodes {
		if n.Instance.ID == id {
			return n
		}
	}
	return nil
}

func peerName(n *Node, e core.ENI) string { return fmt.Sprintf("n%d-%s", n.Index, linkName(e)) }

// attach creates the link of an ENI EC2 just attached: a veth whose node
// end has the ENI's MAC, whose VPC end holds the subnet gateway. The
// primary interface comes up configured, as after boot.
func (k *kernelBackend) attach(e core.ENI) {
	n := k.nodeOf(e.InstanceID)
	if n == nil {
		return
	}
	if err := k.plug(n, e); err != nil {
		k.c.fail("hypervisor: plug %s (%s) into %s: %v", e.ID, linkName(e), n.Name, err)
	}
}

func (k *kernelBackend) plug(n *Node, e core.ENI) error {
	k.hvMu.Lock()
	defer k.hvMu.Unlock()
	s := k.nodes[n.Index]
	if s == nil {
		return fmt.Errorf("no namespace for %s", n.Name)
	}
	name, peer := linkName(e), peerName(n, e)
	mac, err := net.ParseMAC(e.MAC)
	if err != nil {
		return err
	}
	if l, err := s.h.LinkByName(name); err == nil {
		if l.Attrs().HardwareAddr.String() == mac.String() {
			return nil
		}
		if err := s.h.LinkDel(l); err != nil {
			return fmt.Errorf("remove stale %s: %w", name, err)
		}
	}
	fd, err := os.Open(k.vpc.path)
	if err != nil {
		return err
	}
	defer fd.Close()
	attrs := nl.NewLinkAttrs()
	attrs.Name, attrs.HardwareAddr = name, mac
	if e.Primary {
		attrs.MTU = PodMTU
	}
	if err := s.h.LinkAdd(&nl.Veth{LinkAttrs: attrs, PeerName: peer, PeerNamespace: nl.NsFd(int(fd.Fd()))}); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	pl, err := k.vpc.h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := k.vpc.h.LinkSetMTU(pl, PodMTU); err != nil {
		return err
	}
	if err := k.vpc.addAddr(peer, hostPrefix(gatewayOf(e.SubnetCIDR))); err != nil {
		return err
	}
	if err := k.vpc.h.LinkSetUp(pl); err != nil {
		return err
	}
	if !e.Primary {
		return nil
	}
	if err := s.addAddr(name, netip.PrefixFrom(e.PrimaryIP, e.SubnetCIDR.Bits())); err != nil {
		return err
	}
	l, err := s.h.LinkByName(name)
	if err != nil {
		return err
	}
	if err := s.h.LinkSetUp(l); err != nil {
		return err
	}
	return s.h.RouteReplace(&nl.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(gatewayOf(e.SubnetCIDR).AsSlice())})
}

// detach removes the link of an ENI EC2 detached.
func (k *kernelBackend) detach(e core.ENI) {
	n := k.nodeOf(e.InstanceID)
	if n == nil {
		return
	}
	k.hvMu.Lock()
	defer k.hvMu.Unlock()
	s := k.nodes[n.Index]
	if s == nil {
		return
	}
	l, err := s.h.LinkByName(linkName(e))
	if err != nil {
		return
	}
	if strings.EqualFold(l.Attrs().HardwareAddr.String(), e.MAC) {
		if err := s.h.LinkDel(l); err != nil {
			k.c.fail("hypervisor: unplug %s from %s: %v", e.ID, n.Name, err)
		}
	}
}

// fabricProto marks the VPC namespace's routes to ENIs.
const fabricProto = nl.RouteProtocol(0x4c)

// syncFabric makes the VPC namespace route every address EC2 assigned to
// an attached ENI to that ENI's link: its primary address on-link, the
// others (and delegated prefixes) through it.
func (k *kernelBackend) syncFabric() error {
	k.hvMu.Lock()
	defer k.hvMu.Unlock()
	type key struct {
		dst  string
		link int
		gw   string
	}
	var want []nl.Route
	wanted := map[key]bool{}
	for _, n := range k.c.nodes {
		for _, e := range k.c.region.ENIsOf(n.Instance.ID) {
			pl, err := k.vpc.h.LinkByName(peerName(n, e))
			if err != nil {
				continue // not plugged yet
			}
			idx := pl.Attrs().Index
			want = append(want, nl.Route{LinkIndex: idx, Dst: ipNet(hostPrefix(e.PrimaryIP)), Scope: nl.SCOPE_LINK, Protocol: fabricProto})
			gw := net.IP(e.PrimaryIP.AsSlice())
			for _, a := range e.SecondaryIPs {
				want = append(want, nl.Route{LinkIndex: idx, Dst: ipNet(hostPrefix(a)), Gw: gw, Protocol: fabricProto})
			}
			for _, p := range e.IPv4Prefixes {
				want = append(want, nl.Route{LinkIndex: idx, Dst: ipNet(p), Gw: gw, Protocol: fabricProto})
			}
		}
	}
	keyOf := func(r nl.Route) key {
		g := ""
		if r.Gw != nil {
			g = r.Gw.String()
		}
		return key{r.Dst.String(), r.LinkIndex, g}
	}
	for _, r := range want {
		wanted[keyOf(r)] = true
	}
	have, err := k.vpc.h.RouteListFiltered(nl.FAMILY_V4, &nl.Route{Protocol: fabricProto}, nl.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list VPC routes: %w", err)
	}
	present := map[key]bool{}
	var errs []error
	for _, r := range have {
		if r.Dst == nil || !wanted[keyOf(r)] {
			if err := k.vpc.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, err)
			}
			continue
		}
		present[keyOf(r)] = true
	}
	// On-link routes first: the others go through them.
	sort.SliceStable(want, func(i, j int) bool { return want[i].Gw == nil && want[j].Gw != nil })
	for _, r := range want {
		if present[keyOf(r)] {
			continue
		}
		if err := k.vpc.h.RouteReplace(&r); err != nil {
			errs = append(errs, fmt.Errorf("route %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}

// ---- ipamd ----------------------------------------------------------------

// ipamdProc is one aws-k8s-agent process.
type ipamdProc struct {
	cmd   *exec.Cmd
	out   *os.File
	done  chan struct{}
	err   error
	start time.Time
}

func (k *kernelBackend) startNode(ctx context.Context, n *Node) error {
	conf, err := Conflist(n.Socket, n.PluginLog)
	if err != nil {
		return err
	}
	if n.cni, err = newCNIDriver(k.c.cfg.BinDir, filepath.Join(n.Dir, "cni-cache"), &nsExec{path: n.Netns}, conf); err != nil {
		return err
	}
	k.procMu.Lock()
	err = k.mountRunDir(n)
	k.procMu.Unlock()
	if err != nil {
		return err
	}
	if _, err := k.startIPAMD(ctx, n); err != nil {
		return err
	}
	fwCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n.Firewall, err = firewall.Detect(fwCtx, firewall.Config{Backend: k.c.cfg.Firewall, NetNS: n.Netns, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("%s: find the firewall backend ipamd uses: %w", n.Name, err)
	}
	return nil
}

// ipamdEnviron is the agent's environment: the process's PATH, the SDKs
// pointed at the emulator (metadata stays at its default address), and
// the node's files.
func (k *kernelBackend) ipamdEnviron(n *Node) []string {
	env := k.c.ipamdEnv(n)
	env["PATH"] = os.Getenv("PATH") + ":/usr/sbin:/sbin"
	env["HOME"] = n.Dir
	env["AWS_CONFIG_FILE"] = filepath.Join(n.Dir, "aws-config-none")
	env["AWS_SHARED_CREDENTIALS_FILE"] = filepath.Join(n.Dir, "aws-credentials-none")
	for _, v := range emulator.Env("http://"+EC2Endpoint.String(), "", region) {
		env[v.Name] = v.Value
	}
	for name, value := range k.c.cfg.Env {
		env[name] = value
	}
	out := make([]string, 0, len(env))
	for name, value := range env {
		out = append(out, name+"="+value)
	}
	slices.Sort(out)
	return out
}

// startIPAMD starts the agent inside the node's namespace and waits for
// health SERVING; it returns the time that took.
func (k *kernelBackend) startIPAMD(ctx context.Context, n *Node) (time.Duration, error) {
	out, err := os.OpenFile(filepath.Join(n.Dir, "ipamd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(filepath.Join(k.c.cfg.BinDir, "aws-k8s-agent"),
		"--cloud=aws", "--datapath=netlink", "--firewall="+k.c.cfg.Firewall,
		"--socket="+n.Socket, "--metrics-address=127.0.0.1:61678")
	cmd.Env = k.ipamdEnviron(n)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = n.Dir
	// If this process dies, so does the agent. Its own process group keeps
	// a terminal's Ctrl-C (sent to the whole foreground group) from stopping
	// it before teardown has deleted the pods through it; teardown stops it
	// with SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p := &ipamdProc{cmd: cmd, out: out, done: make(chan struct{})}
	p.start = time.Now()
	// The child inherits the namespace of the thread that forks it.
	if err := netns.Do(n.Netns, cmd.Start); err != nil {
		out.Close()
		return 0, fmt.Errorf("%s: start aws-k8s-agent: %w", n.Name, err)
	}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	k.procMu.Lock()
	k.procs[n.Index] = p
	k.procMu.Unlock()
	if err := waitServing(ctx, n.Socket, p.done, ipamdReadyTimeout); err != nil {
		return 0, fmt.Errorf("%s: %w; %s", n.Name, err, tail(n.IPAMDLog, filepath.Join(n.Dir, "ipamd.out")))
	}
	ready := time.Since(p.start)
	n.ipamdStarted = true
	k.log.Info("ipamd ready", "node", n.Name, "pid", cmd.Process.Pid, "after", ready)
	return ready, nil
}

// tail returns the last lines of the files, for error messages.
func tail(paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		fmt.Fprintf(&b, "last lines of %s:\n%s\n", p, strings.Join(lines, "\n"))
	}
	if b.Len() == 0 {
		return "no log output"
	}
	return b.String()
}

// stopIPAMD sends SIGTERM and waits; an exit other than 0 is an error.
func (k *kernelBackend) stopIPAMD(n *Node) error {
	k.procMu.Lock()
	p := k.procs[n.Index]
	delete(k.procs, n.Index)
	k.procMu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return fmt.Errorf("ipamd had exited already: %v; %s", p.err, tail(n.IPAMDLog))
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal ipamd: %w", err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("ipamd did not stop within 15s of SIGTERM; killed")
	}
	if p.err != nil {
		return fmt.Errorf("ipamd exited after SIGTERM with %v; %s", p.err, tail(n.IPAMDLog, filepath.Join(n.Dir, "ipamd.out")))
	}
	return nil
}

func (k *kernelBackend) restartIPAMD(ctx context.Context, n *Node) (time.Duration, error) {
	if err := k.stopIPAMD(n); err != nil {
		return 0, fmt.Errorf("%s: %w", n.Name, err)
	}
	return k.startIPAMD(ctx, n)
}

func (k *kernelBackend) ipamdPID(n *Node) int {
	k.procMu.Lock()
	defer k.procMu.Unlock()
	if p := k.procs[n.Index]; p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// ---- pods -----------------------------------------------------------------

func (k *kernelBackend) newPodNetns(p *Pod) error {
	// "pod-1-007" on node 1 lives in "vpccni-<run>-n1-007".
	name := fmt.Sprintf("%sn%d-%s", k.prefix, p.Node.Index, strings.TrimPrefix(p.Name, fmt.Sprintf("pod-%d-", p.Node.Index)))
	path, err := netns.Create(name)
	if err != nil {
		return err
	}
	p.Netns = path
	return nil
}

func (k *kernelBackend) deletePodNetns(p *Pod) error {
	if p.Netns == "" {
		return nil
	}
	return netns.Delete(filepath.Base(p.Netns))
}

// podAdded starts the pod's probe server on port 8080.
func (k *kernelBackend) podAdded(p *Pod) error {
	var ln net.Listener
	if err := netns.Do(p.Netns, func() (err error) { ln, err = net.Listen("tcp4", ":8080"); return err }); err != nil {
		return err
	}
	go serveWhoami(ln)
	p.closeServer = func() { ln.Close() }
	return nil
}

// serveWhoami answers each connection with "<local address> <remote
// address>\n" and closes it.
func serveWhoami(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			l, r := addrOf(c.LocalAddr()), addrOf(c.RemoteAddr())
			_, _ = io.WriteString(c, l.String()+" "+r.String()+"\n")
		}()
	}
}

func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(t.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// ---- stop -----------------------------------------------------------------

func (k *kernelBackend) beforeDel(context.Context) []string {
	var failures []string
	for _, undo := range k.nodePorts {
		if err := undo(); err != nil {
			failures = append(failures, fmt.Sprintf("remove NodePort rule: %v", err))
		}
	}
	k.nodePorts = nil
	for _, n := range k.c.nodes {
		for _, p := range n.Pods() {
			if p.closeServer != nil {
				p.closeServer()
				p.closeServer = nil
			}
		}
	}
	return failures
}

func (k *kernelBackend) stop(ctx context.Context) (residue, failures []string) {
	for _, n := range k.c.nodes {
		if err := k.stopIPAMD(n); err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", n.Name, err))
		}
	}
	failures = append(failures, k.unmountRunDirs()...)
	for _, n := range k.c.nodes {
		if k.nodes[n.Index] == nil {
			continue
		}
		res, fails := firewallResidue(ctx, n)
		residue = append(residue, res...)
		failures = append(failures, fails...)
	}
	for _, srv := range k.servers {
		_ = srv.Close()
	}
	if k.echo != nil {
		k.echo.Close()
	}
	for _, s := range append([]*space{k.vpc, k.inet}, mapValues(k.nodes)...) {
		if s != nil && s.h != nil {
			s.h.Close()
		}
	}
	for i := len(k.made) - 1; i >= 0; i-- {
		if err := netns.Delete(k.made[i]); err != nil {
			failures = append(failures, fmt.Sprintf("delete namespace %s: %v", k.made[i], err))
		}
	}
	// Every namespace of this run is gone: those it made, and any other
	// with its prefix (unless the prefix is another run's: start failed
	// on its lock).
	if k.lock != nil || !k.c.cfg.RemoveStale {
		entries, _ := os.ReadDir(netns.Dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), k.prefix) {
				residue = append(residue, "namespace "+e.Name())
			}
		}
		residue = append(residue, mountResidue(k.prefix)...)
	}
	if k.lock != nil {
		k.lock.Close()
	}
	return residue, failures
}

func mapValues(m map[int]*space) []*space {
	var out []*space
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// removeStale deletes namespaces whose names start with prefix, ending
// the processes still inside them first (an ipamd left by a run that was
// killed). It returns the names removed.
func removeStale(prefix string) []string {
	entries, err := os.ReadDir(netns.Dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join(netns.Dir, e.Name()), &st) == nil {
			for _, pid := range pidsInNetns(st.Dev, st.Ino) {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		if netns.Delete(e.Name()) == nil {
			removed = append(removed, e.Name())
		}
	}
	return removed
}

// pidsInNetns lists the processes whose network namespace is (dev, ino).
func pidsInNetns(dev, ino uint64) []int {
	procs, _ := os.ReadDir("/proc")
	var out []int
	for _, p := range procs {
		var pid int
		if _, err := fmt.Sscanf(p.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", p.Name(), "ns", "net"), &st) == nil && st.Dev == dev && st.Ino == ino {
			out = append(out, pid)
		}
	}
	return out
}
