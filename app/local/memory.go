package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/app/cniplugin"
	"github.com/vpc-cni/vpc-cni/app/ipamd"
)

// memoryBackend runs every node's ipamd in this process on the simulated
// region, with the in-memory datapath and firewall, and the plugin's logic
// in-process behind libcni.
type memoryBackend struct {
	c       *Cluster
	nets    map[int]*datapathmem.Network
	daemons map[int]*ipamd.Daemon
}

func newMemoryBackend(c *Cluster) *memoryBackend {
	return &memoryBackend{c: c, nets: map[int]*datapathmem.Network{}, daemons: map[int]*ipamd.Daemon{}}
}

// ipamdEnv is the environment of node n's ipamd in either mode.
func (c *Cluster) ipamdEnv(n *Node) map[string]string {
	env := map[string]string{
		"AWS_VPC_K8S_CNI_LOG_FILE":      n.IPAMDLog,
		"AWS_VPC_K8S_CNI_LOGLEVEL":      "DEBUG",
		"AWS_VPC_K8S_CNI_BACKING_STORE": n.Checkpoint,
		"AWS_VPC_K8S_CNI_VETHPREFIX":    VethPrefix,
		"INTROSPECTION_BIND_ADDRESS":    "unix:" + n.IntrospectionSocket,
	}
	if c.cfg.ExternalSNAT {
		env["AWS_VPC_K8S_CNI_EXTERNALSNAT"] = "true"
	}
	for k, v := range c.cfg.Env {
		env[k] = v
	}
	return env
}

func (m *memoryBackend) start(ctx context.Context) error {
	for _, n := range m.c.nodes {
		net, err := datapathmem.New(datapathmem.Config{VethPrefix: VethPrefix})
		if err != nil {
			return err
		}
		m.nets[n.Index] = net
		if err := m.startDaemon(ctx, n); err != nil {
			return err
		}
		n.Firewall = "memory"
		conf, err := Conflist(n.Socket, n.PluginLog)
		if err != nil {
			return err
		}
		exec := &inProcessExec{pods: net}
		if n.cni, err = newCNIDriver(n.Dir, filepath.Join(n.Dir, "cni-cache"), exec, conf); err != nil {
			return err
		}
	}
	return nil
}

func (m *memoryBackend) startDaemon(ctx context.Context, n *Node) error {
	env := m.c.ipamdEnv(n)
	env["DISABLE_METRICS"] = "true"
	o := ipamd.DefaultOptions()
	o.Cloud, o.Datapath, o.Firewall = ipamd.CloudMemory, ipamd.DatapathMemory, ipamd.FirewallMemory
	o.MemoryCloud, o.MemoryInstance = m.c.region, n.Instance.ID
	o.HostNetwork = m.nets[n.Index]
	o.InstanceType = m.c.cfg.InstanceType
	o.Socket = n.Socket
	o.MetricsAddress = "127.0.0.1:0"
	o.StartTimeout = time.Minute
	o.Stdout, o.Stderr = io.Discard, io.Discard
	o.Lookup = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	d, err := ipamd.New(o)
	if err != nil {
		return fmt.Errorf("%s: build ipamd: %w", n.Name, err)
	}
	if err := d.Start(ctx); err != nil {
		return fmt.Errorf("%s: start ipamd: %w (log %s)", n.Name, err, n.IPAMDLog)
	}
	m.daemons[n.Index] = d
	n.ipamdStarted = true
	return nil
}

func (m *memoryBackend) newPodNetns(p *Pod) error {
	// The in-memory datapath takes any path for a namespace the runtime
	// made; nothing is created.
	p.Netns = netns.Path(fmt.Sprintf("vpccni-%s-%s", m.c.cfg.RunID, p.Name))
	return nil
}

func (m *memoryBackend) deletePodNetns(p *Pod) error {
	m.nets[p.Node.Index].DeleteNetns(p.Netns)
	return nil
}

func (m *memoryBackend) podAdded(*Pod) error { return nil }

func (m *memoryBackend) checks(context.Context) []Check {
	why := "memory datapath: no packets move (run as root for the kernel datapath)"
	out := []Check{{Name: CheckSameNode, Detail: why}, {Name: CheckCrossNode, Detail: why}, {Name: CheckInternet, Detail: why}, {Name: CheckNodePort, Detail: why}}
	return out
}

func (m *memoryBackend) beforeDel(context.Context) []string { return nil }

// nodeResidue reads the node's rendered datapath for anything of the
// deleted pods: veth links, their routes, rules at 512 and 1536.
func (m *memoryBackend) nodeResidue(ctx context.Context, _ []*Pod) []string {
	var out []string
	for _, n := range m.c.nodes {
		text, err := m.nets[n.Index].Render(ctx)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: render datapath: %v", n.Name, err))
			continue
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "rule 512:") || strings.HasPrefix(line, "rule 1536:") ||
				strings.HasPrefix(line, "link "+VethPrefix) || strings.Contains(line, " dev "+VethPrefix) {
				out = append(out, n.Name+": "+line)
			}
		}
	}
	return out
}

// sandboxResidue renders the pod's namespace: after DEL it is empty.
func (m *memoryBackend) sandboxResidue(ctx context.Context, p *Pod) []string {
	var out []string
	text, err := m.nets[p.Node.Index].RenderPod(ctx, podSpecOf(p))
	if err == nil && strings.TrimSpace(text) != "" {
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			out = append(out, fmt.Sprintf("%s sandbox %s: %s", p.Node.Name, p.Name, line))
		}
	}
	return out
}

func (m *memoryBackend) stop(ctx context.Context) (residue, failures []string) {
	for _, n := range m.c.nodes {
		d := m.daemons[n.Index]
		if d == nil {
			continue
		}
		if err := d.Stop(ctx); err != nil {
			failures = append(failures, fmt.Sprintf("%s: stop ipamd: %v", n.Name, err))
		}
		delete(m.daemons, n.Index)
	}
	return nil, failures
}

func (m *memoryBackend) restartIPAMD(ctx context.Context, n *Node) (time.Duration, error) {
	if d := m.daemons[n.Index]; d != nil {
		if err := d.Stop(ctx); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	if err := m.startDaemon(ctx, n); err != nil {
		return 0, err
	}
	if err := waitServing(ctx, n.Socket, nil, time.Minute); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func (m *memoryBackend) ipamdPID(*Node) int { return os.Getpid() }

// inProcessExec stands in for exec'ing the aws-cni binary: it runs the
// plugin's command functions (app/cniplugin) in this process with the
// environment and stdin libcni would give the binary, wiring pods through
// the node's in-memory datapath.
type inProcessExec struct {
	pods *datapathmem.Network
}

func (e *inProcessExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var stdout, stderr bytes.Buffer
	plugin, err := cniplugin.New(cniplugin.Config{Stdout: &stdout, Stderr: &stderr}, e.pods)
	if err != nil {
		return nil, err
	}
	args := &skel.CmdArgs{
		ContainerID: env["CNI_CONTAINERID"], Netns: env["CNI_NETNS"], IfName: env["CNI_IFNAME"],
		Args: env["CNI_ARGS"], Path: env["CNI_PATH"], StdinData: stdin,
	}
	timeExec(ctx, func() {
		switch cmd := env["CNI_COMMAND"]; cmd {
		case "ADD":
			err = plugin.Add(args)
		case "DEL":
			err = plugin.Del(args)
		case "CHECK":
			err = plugin.Check(args)
		case "VERSION":
			err = cniplugin.VersionInfo().Encode(&stdout)
		default:
			err = types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("CNI_COMMAND %q not run in-process", cmd), "")
		}
	})
	if err != nil {
		return nil, err
	}
	return stdout.Bytes(), nil
}

func (e *inProcessExec) FindInPath(plugin string, paths []string) (string, error) {
	if plugin != PluginType {
		return "", fmt.Errorf("plugin %q: only %s runs in-process", plugin, PluginType)
	}
	return filepath.Join("/in-process", plugin), nil
}

func (e *inProcessExec) Decode(b []byte) (version.PluginInfo, error) {
	return (&version.PluginDecoder{}).Decode(b)
}

// waitServing polls ipamd's health until SERVING, the process exits
// (exited closes) or timeout passes.
func waitServing(ctx context.Context, socket string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "no socket yet"
	for {
		select {
		case <-exited:
			return fmt.Errorf("ipamd exited before it was ready (last health check: %s)", last)
		default:
		}
		if _, err := os.Stat(socket); err == nil {
			cl, err := rpcclient.Dial(ctx, socket, time.Second)
			if err == nil {
				st, herr := cl.Health(ctx, "")
				cl.Close()
				if herr == nil && st == rpcclient.Serving {
					return nil
				}
				last = string(st)
				if herr != nil {
					last = herr.Error()
				}
			} else {
				last = err.Error()
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ipamd not ready within %s (last health check: %s)", timeout, last)
		case <-exited:
			return fmt.Errorf("ipamd exited before it was ready (last health check: %s)", last)
		case <-time.After(2 * time.Millisecond):
		}
	}
}
