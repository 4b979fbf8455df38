package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/core"
)

// backend is what differs between kernel and memory mode.
type backend interface {
	// start builds the nodes' environment and starts a ready ipamd on each.
	start(ctx context.Context) error
	// newPodNetns creates the sandbox namespace of p and sets p.Netns.
	newPodNetns(p *Pod) error
	deletePodNetns(p *Pod) error
	// podAdded runs after a successful ADD (probe servers).
	podAdded(p *Pod) error
	// checks runs the connectivity checks.
	checks(ctx context.Context) []Check
	// beforeDel undoes what checks and podAdded set up.
	beforeDel(ctx context.Context) []string
	// nodeResidue lists what the deleted pods left on their nodes.
	nodeResidue(ctx context.Context, pods []*Pod) []string
	// sandboxResidue lists what a deleted pod left in its sandbox.
	sandboxResidue(ctx context.Context, p *Pod) []string
	// stop stops ipamd and removes everything else; it returns residue
	// and failures.
	stop(ctx context.Context) (residue, failures []string)
	// restartIPAMD stops and starts node n's ipamd and returns the time
	// from start to health SERVING.
	restartIPAMD(ctx context.Context, n *Node) (time.Duration, error)
	// ipamdPID is the process id of node n's ipamd.
	ipamdPID(n *Node) int
}

// Node is one simulated instance.
type Node struct {
	Index    int
	Name     string
	Instance core.Instance
	Subnet   netip.Prefix
	Gateway  netip.Addr

	// Dir holds the node's logs and CNI cache (a node's /var/log and
	// /var/lib/cni); RunDir, inside it, its socket and checkpoint (a node's
	// /var/run/aws-node). In kernel mode RunDir is a tmpfs, as /var/run is
	// on a node: the checkpoint's fsyncs then cost what they cost there.
	Dir                 string
	RunDir              string
	Socket              string
	IntrospectionSocket string
	Checkpoint          string
	IPAMDLog            string
	PluginLog           string
	// Netns is the node's network namespace path (kernel mode).
	Netns string
	// Firewall is the backend ipamd uses on the node.
	Firewall string

	cni *cniDriver
	// ipamdStarted: an ipamd was ready on the node at some point.
	ipamdStarted bool

	mu   sync.Mutex
	seq  int
	pods []*Pod
}

// Pods returns the node's pods that were added and not deleted.
func (n *Node) Pods() []*Pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Pod
	for _, p := range n.pods {
		if !p.deleted {
			out = append(out, p)
		}
	}
	return out
}

// Cluster is a running local bring-up.
type Cluster struct {
	cfg     Config
	work    string
	ownWork bool
	region  *memory.Cloud
	nodes   []*Node
	be      backend

	mu        sync.Mutex
	failures  []string
	retries   int
	cniChecks map[*Pod]bool
	// sandboxLeft is what DEL left in sandboxes.
	sandboxLeft []string
	// Set by the connectivity checks.
	snatSource, snatExpected string
	nodePortSecondary        bool

	closed   bool
	teardown Teardown
}

// Teardown is what Close found.
type Teardown struct {
	Residue  []string
	Failures []string
}

// Start brings up the nodes with ipamd ready on each (no pods yet). On
// error everything made so far is removed.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, work: cfg.WorkDir, cniChecks: map[*Pod]bool{}}
	if c.work == "" {
		if c.work, err = os.MkdirTemp("", "vpccni-local-"); err != nil {
			return nil, fmt.Errorf("create work directory: %w", err)
		}
		c.ownWork = true
	} else if err := os.MkdirAll(c.work, 0o755); err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	region, insts, err := newRegion(cfg)
	if err != nil {
		c.removeWork()
		return nil, err
	}
	c.region = region
	for i, inst := range insts {
		n := &Node{Index: i + 1, Name: fmt.Sprintf("node%d", i+1), Instance: inst, Subnet: subnetOf(i + 1)}
		n.Gateway = gatewayOf(n.Subnet)
		n.Dir = filepath.Join(c.work, n.Name)
		n.RunDir = filepath.Join(n.Dir, "run")
		n.Socket = filepath.Join(n.RunDir, "ipamd.sock")
		n.IntrospectionSocket = filepath.Join(n.Dir, "introspection.sock")
		n.Checkpoint = filepath.Join(n.RunDir, "ipam.json")
		n.IPAMDLog = filepath.Join(n.Dir, "ipamd.log")
		n.PluginLog = filepath.Join(n.Dir, "plugin.log")
		if err := errors.Join(os.MkdirAll(filepath.Join(n.Dir, "cni-cache"), 0o755), os.MkdirAll(n.RunDir, 0o755)); err != nil {
			c.removeWork()
			return nil, fmt.Errorf("create node directory: %w", err)
		}
		c.nodes = append(c.nodes, n)
	}
	switch cfg.Mode {
	case ModeMemory:
		c.be = newMemoryBackend(c)
	default:
		if c.be, err = newKernelBackend(c); err != nil {
			c.removeWork()
			return nil, err
		}
	}
	cfg.Log.Info("bringing up local nodes", "mode", cfg.Mode, "nodes", cfg.Nodes, "instance_type", cfg.InstanceType, "firewall", cfg.Firewall, "work_dir", c.work)
	if err := c.be.start(ctx); err != nil {
		td := c.Close(context.WithoutCancel(ctx))
		if len(td.Residue) > 0 {
			err = fmt.Errorf("%w (teardown left: %s)", err, strings.Join(td.Residue, "; "))
		}
		return nil, err
	}
	return c, nil
}

// Config returns the configuration in effect (defaults filled).
func (c *Cluster) Config() Config { return c.cfg }

// Nodes returns the nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Region is the simulated EC2 region behind every node.
func (c *Cluster) Region() *memory.Cloud { return c.region }

// WorkDir is where sockets, checkpoints and logs are.
func (c *Cluster) WorkDir() string { return c.work }

// Mode is ModeKernel or ModeMemory.
func (c *Cluster) Mode() string { return c.cfg.Mode }

func (c *Cluster) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.mu.Lock()
	c.failures = append(c.failures, msg)
	c.mu.Unlock()
	c.cfg.Log.Warn("local run failure", "failure", msg)
}

// Failures are the errors met so far.
func (c *Cluster) Failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.failures)
}

// tryAgainLater is the CNI error code a runtime retries on.
const tryAgainLater = 11

// addAttempts bounds how often a pod ADD is tried, as the kubelet retries
// a sandbox whose network set-up failed.
const addAttempts = 5

// AddPod adds one pod to node n through the CNI, retrying (after a DEL,
// as the runtime does) while the plugin says to try again later.
func (c *Cluster) AddPod(ctx context.Context, n *Node) (*Pod, error) {
	n.mu.Lock()
	n.seq++
	seq := n.seq
	n.mu.Unlock()
	p := &Pod{
		Node: n, Name: fmt.Sprintf("pod-%d-%03d", n.Index, seq), Namespace: PodNamespace,
		ContainerID: randomHex(32), UID: randomHex(16), IfName: "eth0",
	}
	if err := c.be.newPodNetns(p); err != nil {
		return nil, fmt.Errorf("create sandbox of %s: %w", p.Name, err)
	}
	var res types.Result
	var err error
	for attempt := 1; ; attempt++ {
		start := time.Now()
		res, err = n.cni.add(ctx, p)
		p.AddLatency = time.Since(start)
		var cerr *types.Error
		if err == nil || !errors.As(err, &cerr) || cerr.Code != tryAgainLater || attempt == addAttempts || ctx.Err() != nil {
			break
		}
		c.mu.Lock()
		c.retries++
		c.mu.Unlock()
		c.cfg.Log.Info("CNI ADD asks to try again", "pod", p.Name, "attempt", attempt, "error", err)
		_ = n.cni.del(ctx, p)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err == nil {
		err = p.readResult(res)
	}
	if err != nil {
		_ = n.cni.del(context.WithoutCancel(ctx), p)
		_ = c.be.deletePodNetns(p)
		return nil, fmt.Errorf("CNI ADD of %s on %s: %w", p.Name, n.Name, err)
	}
	if e, ok := eniOwning(c.region, n.Instance.ID, p.IP); ok {
		p.ENI, p.Device = e.ID, e.DeviceNumber
	} else {
		p.Device = -1
	}
	n.mu.Lock()
	n.pods = append(n.pods, p)
	n.mu.Unlock()
	if err := c.be.podAdded(p); err != nil {
		return p, fmt.Errorf("prepare %s for probes: %w", p.Name, err)
	}
	return p, nil
}

// AddPods adds count pods on every node (nodes in parallel, cfg.Parallel
// at a time per node). Failed ADDs are recorded as failures; it returns
// the pods wired.
func (c *Cluster) AddPods(ctx context.Context, count int) []*Pod {
	var (
		mu  sync.Mutex
		all []*Pod
		wg  sync.WaitGroup
	)
	for _, n := range c.nodes {
		sem := make(chan struct{}, c.cfg.Parallel)
		for i := 0; i < count; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				if ctx.Err() != nil {
					return
				}
				p, err := c.AddPod(ctx, n)
				if err != nil {
					c.fail("%v", err)
				}
				if p != nil {
					mu.Lock()
					all = append(all, p)
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	c.cfg.Log.Info("pods added", "pods", len(all))
	return all
}

// DelPod deletes a pod through the CNI, as a runtime does when it stops
// the sandbox, then looks for anything left in the sandbox and removes
// it. Leftovers are reported by Close (what is left on the node is looked
// for there, once every pod is gone).
func (c *Cluster) DelPod(ctx context.Context, p *Pod) error {
	if p.closeServer != nil {
		p.closeServer()
		p.closeServer = nil
	}
	start := time.Now()
	err := p.Node.cni.del(ctx, p)
	p.DelLatency = time.Since(start)
	p.Node.mu.Lock()
	p.deleted = err == nil
	p.Node.mu.Unlock()
	if err != nil {
		return fmt.Errorf("CNI DEL of %s on %s: %w", p.Name, p.Node.Name, err)
	}
	res := c.be.sandboxResidue(ctx, p)
	derr := c.be.deletePodNetns(p)
	c.mu.Lock()
	c.sandboxLeft = append(c.sandboxLeft, res...)
	c.mu.Unlock()
	if derr != nil {
		return fmt.Errorf("remove sandbox of %s: %w", p.Name, derr)
	}
	return nil
}

// CheckPods runs CNI CHECK for every pod, as a runtime may, and returns
// the check.
func (c *Cluster) CheckPods(ctx context.Context) Check {
	ch := Check{Name: CheckCNI, Ran: true}
	for _, n := range c.nodes {
		for _, p := range n.Pods() {
			ch.Probes++
			err := n.cni.check(ctx, p)
			c.mu.Lock()
			c.cniChecks[p] = err == nil
			c.mu.Unlock()
			if err != nil {
				if ch.Failure == "" {
					ch.Failure = fmt.Sprintf("%s: %v", p.Name, err)
				}
				continue
			}
			ch.Passed++
		}
	}
	ch.OK = ch.Passed == ch.Probes
	ch.Detail = fmt.Sprintf("%d/%d pods pass the plugin's CHECK", ch.Passed, ch.Probes)
	return ch
}

// Connectivity runs the connectivity checks (none in memory mode).
func (c *Cluster) Connectivity(ctx context.Context) []Check { return c.be.checks(ctx) }

// RestartIPAMD stops node n's ipamd with SIGTERM, starts it again on the
// same checkpoint and returns the time from start to health SERVING.
func (c *Cluster) RestartIPAMD(ctx context.Context, n *Node) (time.Duration, error) {
	return c.be.restartIPAMD(ctx, n)
}

// IPAMDPID is the process id of node n's ipamd (this process in memory
// mode).
func (c *Cluster) IPAMDPID(n *Node) int { return c.be.ipamdPID(n) }

// Snapshot describes the nodes, their ENIs and pods now.
func (c *Cluster) Snapshot() []NodeReport {
	var out []NodeReport
	for _, n := range c.nodes {
		nr := NodeReport{
			Name: n.Name, InstanceID: string(n.Instance.ID), PrimaryIP: n.Instance.PrimaryIP.String(),
			Subnet: n.Subnet.String(), Netns: n.Netns, Firewall: n.Firewall, ENIs: []ENIReport{}, Pods: []PodReport{},
		}
		perENI := map[core.ENIID]int{}
		for _, p := range n.Pods() {
			perENI[p.ENI]++
			nr.Pods = append(nr.Pods, PodReport{
				Name: p.Namespace + "/" + p.Name, IP: p.IP.String(), ENI: string(p.ENI), Device: p.Device,
				HostVeth: p.HostVeth, AddMS: float64(p.AddLatency.Microseconds()) / 1000,
			})
		}
		for _, e := range c.region.ENIsOf(n.Instance.ID) {
			nr.ENIs = append(nr.ENIs, ENIReport{
				ID: string(e.ID), Device: e.DeviceNumber, MAC: e.MAC, PrimaryIP: e.PrimaryIP.String(),
				SecondaryIPs: len(e.SecondaryIPs), Pods: perENI[e.ID],
			})
			if !e.Primary && perENI[e.ID] > 0 {
				nr.SecondaryENI++
			}
		}
		out = append(out, nr)
	}
	return out
}

// Close deletes every pod through the CNI, checks what they left, stops
// ipamd and removes every namespace and file of the run. It is safe to
// call more than once; later calls return the first result.
func (c *Cluster) Close(ctx context.Context) Teardown {
	c.mu.Lock()
	if c.closed {
		td := c.teardown
		c.mu.Unlock()
		return td
	}
	c.closed = true
	c.mu.Unlock()

	var td Teardown
	td.Failures = append(td.Failures, c.be.beforeDel(ctx)...)
	var all []*Pod
	for _, n := range c.nodes {
		for _, p := range n.Pods() {
			if err := c.DelPod(ctx, p); err != nil {
				td.Failures = append(td.Failures, err.Error())
			}
		}
		n.mu.Lock()
		all = append(all, n.pods...)
		n.mu.Unlock()
	}
	td.Residue = append(td.Residue, c.allocationResidue(ctx)...)
	td.Residue = append(td.Residue, c.cacheResidue()...)
	c.mu.Lock()
	td.Residue = append(td.Residue, c.sandboxLeft...)
	c.mu.Unlock()
	td.Residue = append(td.Residue, c.be.nodeResidue(ctx, all)...)
	for _, p := range all {
		// Sandboxes of pods whose DEL failed.
		if err := c.be.deletePodNetns(p); err != nil {
			td.Failures = append(td.Failures, fmt.Sprintf("delete sandbox of %s: %v", p.Name, err))
		}
	}
	res, fails := c.be.stop(ctx)
	td.Residue = append(td.Residue, res...)
	td.Failures = append(td.Failures, fails...)
	c.removeWork()
	c.mu.Lock()
	c.teardown = td
	c.mu.Unlock()
	c.cfg.Log.Info("torn down", "residue", len(td.Residue), "failures", len(td.Failures))
	return td
}

func (c *Cluster) removeWork() {
	if c.ownWork && !c.cfg.KeepWorkDir {
		_ = os.RemoveAll(c.work)
	}
}

// allocationResidue asks each ipamd which pods it still holds addresses
// for; after every DEL there must be none.
func (c *Cluster) allocationResidue(ctx context.Context) []string {
	var out []string
	for _, n := range c.nodes {
		if !n.ipamdStarted {
			continue
		}
		cl, err := rpcclient.Dial(ctx, n.Socket, 2*time.Second)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: ipamd unreachable to list allocations: %v", n.Name, err))
			continue
		}
		allocs, err := cl.ListAllocations(ctx, "")
		cl.Close()
		if err != nil {
			out = append(out, fmt.Sprintf("%s: list ipamd allocations: %v", n.Name, err))
			continue
		}
		for _, a := range allocs {
			out = append(out, fmt.Sprintf("%s: ipamd still holds %s for %s/%s (container %s)", n.Name, a.IPv4, a.Pod.Namespace, a.Pod.Name, a.Key.ContainerID))
		}
	}
	return out
}

// cacheResidue lists CNI result cache files left (libcni removes a pod's
// on DEL).
func (c *Cluster) cacheResidue() []string {
	var out []string
	for _, n := range c.nodes {
		root := filepath.Join(n.Dir, "cni-cache")
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, path)
				out = append(out, fmt.Sprintf("%s: CNI cache file %s", n.Name, rel))
			}
			return nil
		})
	}
	return out
}

// Run is the non-interactive bring-up: start, add cfg.Pods pods per node,
// CHECK them, run the connectivity checks, tear everything down, report.
// The error is for a bring-up that could not start; failed pods, checks
// and residue are in the report (OK false).
func Run(ctx context.Context, cfg Config) (Report, error) {
	c, err := Start(ctx, cfg)
	if err != nil {
		return Report{}, err
	}
	c.AddPods(ctx, c.cfg.Pods)
	rep := c.Report(ctx, true)
	td := c.Close(context.WithoutCancel(ctx))
	rep.Residue = append(rep.Residue, td.Residue...)
	rep.Failures = append(rep.Failures, td.Failures...)
	rep.DelLatency = c.delLatency()
	rep.finish()
	return rep, nil
}

// Report runs the CNI CHECK and, when connectivity is set, the
// connectivity checks, and describes the cluster. Residue and DEL latency
// come with Close.
func (c *Cluster) Report(ctx context.Context, connectivity bool) Report {
	rep := Report{
		Mode: c.cfg.Mode, RunID: c.cfg.RunID, Firewall: c.cfg.Firewall, ExternalSNAT: c.cfg.ExternalSNAT,
		InstanceType: c.cfg.InstanceType, PodsRequested: c.cfg.Pods * len(c.nodes),
	}
	if c.cfg.Mode == ModeMemory {
		rep.Firewall = "memory"
	} else if len(c.nodes) > 0 && c.nodes[0].Firewall != "" {
		rep.Firewall = c.nodes[0].Firewall
	}
	rep.Checks = append(rep.Checks, c.CheckPods(ctx))
	if connectivity {
		checks := c.Connectivity(ctx)
		rep.Checks = append(rep.Checks, checks...)
		rep.ConnectivityChecked = slices.ContainsFunc(checks, func(ch Check) bool { return ch.Ran })
	}
	var adds []time.Duration
	for _, n := range c.nodes {
		for _, p := range n.Pods() {
			adds = append(adds, p.AddLatency)
			c.mu.Lock()
			ok := c.cniChecks[p]
			c.mu.Unlock()
			if ok {
				rep.PodsWired++
			}
		}
	}
	rep.AddLatency = NewLatency(adds)
	rep.Nodes = c.Snapshot()
	c.mu.Lock()
	rep.SNATSource, rep.SNATExpected = c.snatSource, c.snatExpected
	rep.NodePortSecondaryENI = c.nodePortSecondary
	rep.AddRetries = c.retries
	c.mu.Unlock()
	rep.Failures = c.Failures()
	rep.finish()
	return rep
}

func (c *Cluster) delLatency() Latency {
	var dels []time.Duration
	for _, n := range c.nodes {
		n.mu.Lock()
		for _, p := range n.pods {
			if p.deleted {
				dels = append(dels, p.DelLatency)
			}
		}
		n.mu.Unlock()
	}
	return NewLatency(dels)
}
