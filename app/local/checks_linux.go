package local

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/netns"
)

// Ports of the probes.
const (
	probePort    = 8080
	NodePortPort = 30080
)

// probe is one TCP connection from a namespace to a whoami server.
type probe struct {
	check string
	from  string // namespace path
	desc  string
	to    netip.AddrPort
	// wantLocal and wantRemote are what the server must report as its own
	// address and the client's (invalid: anything).
	wantLocal, wantRemote netip.Addr

	seenRemote netip.Addr
	err        error
}

// dialIn connects from inside the namespace at path and reads the
// server's "<local> <remote>" line.
func dialIn(path string, to netip.AddrPort, timeout time.Duration) (local, remote netip.Addr, err error) {
	var conn net.Conn
	err = netns.Do(path, func() (err error) {
		d := net.Dialer{Timeout: timeout}
		conn, err = d.Dial("tcp4", to.String())
		return err
	})
	if err != nil {
		return local, remote, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return local, remote, fmt.Errorf("read reply: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		return local, remote, fmt.Errorf("unexpected reply %q", line)
	}
	if local, err = netip.ParseAddr(f[0]); err == nil {
		remote, err = netip.ParseAddr(f[1])
	}
	return local, remote, err
}

func (pr *probe) run(timeout time.Duration) {
	local, remote, err := dialIn(pr.from, pr.to, timeout)
	pr.seenRemote = remote
	switch {
	case err != nil:
		pr.err = err
	case pr.wantLocal.IsValid() && local != pr.wantLocal:
		pr.err = fmt.Errorf("answered by %s, want %s", local, pr.wantLocal)
	case pr.wantRemote.IsValid() && remote != pr.wantRemote:
		pr.err = fmt.Errorf("server saw source %s, want %s", remote, pr.wantRemote)
	}
}

// runProbes runs probes, a few at a time.
func runProbes(probes []*probe, timeout time.Duration) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, pr := range probes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pr.run(timeout)
		}()
	}
	wg.Wait()
}

// summarise folds the probes of one check into a Check.
func summarise(name string, probes []*probe, detail func(passed, total int) string) Check {
	ch := Check{Name: name}
	for _, pr := range probes {
		if pr.check != name {
			continue
		}
		ch.Ran = true
		ch.Probes++
		if pr.err == nil {
			ch.Passed++
		} else if ch.Failure == "" {
			ch.Failure = fmt.Sprintf("%s: %v", pr.desc, pr.err)
		}
	}
	ch.OK = ch.Ran && ch.Passed == ch.Probes
	if detail != nil {
		ch.Detail = detail(ch.Passed, ch.Probes)
	}
	return ch
}

func podDesc(p *Pod) string {
	return fmt.Sprintf("%s %s (eth%d)", p.Name, p.IP, p.Device)
}

// checks runs every connectivity check.
func (k *kernelBackend) checks(ctx context.Context) []Check {
	if err := k.syncFabric(); err != nil {
		k.c.fail("update VPC routes before the checks: %v", err)
	}
	timeout := k.c.cfg.ProbeTimeout
	var probes []*probe
	pods := map[int][]*Pod{}
	for _, n := range k.c.nodes {
		pods[n.Index] = n.Pods()
	}
	// Same node: every pod talks to the next one on its node.
	for _, n := range k.c.nodes {
		ps := pods[n.Index]
		if len(ps) < 2 {
			continue
		}
		for i, a := range ps {
			b := ps[(i+1)%len(ps)]
			probes = append(probes, &probe{check: CheckSameNode, from: a.Netns, desc: podDesc(a) + " → " + podDesc(b),
				to: netip.AddrPortFrom(b.IP, probePort), wantLocal: b.IP, wantRemote: a.IP})
		}
	}
	// Across nodes: every pod talks to a pod of the next node; inside the
	// VPC nothing is translated.
	if len(k.c.nodes) > 1 {
		for i, n := range k.c.nodes {
			next := k.c.nodes[(i+1)%len(k.c.nodes)]
			dst := pods[next.Index]
			if len(dst) == 0 {
				continue
			}
			for j, a := range pods[n.Index] {
				b := dst[j%len(dst)]
				probes = append(probes, &probe{check: CheckCrossNode, from: a.Netns, desc: n.Name + " " + podDesc(a) + " → " + next.Name + " " + podDesc(b),
					to: netip.AddrPortFrom(b.IP, probePort), wantLocal: b.IP, wantRemote: a.IP})
			}
		}
	}
	// Internet: the server sees the node's primary IP (SNAT), or the pod's
	// own address with external SNAT.
	var snatProbe *probe
	snatPod := nodePortTarget(pods[1])
	for _, n := range k.c.nodes {
		for _, p := range pods[n.Index] {
			want := n.Instance.PrimaryIP
			if k.c.cfg.ExternalSNAT {
				want = p.IP
			}
			pr := &probe{check: CheckInternet, from: p.Netns, desc: n.Name + " " + podDesc(p) + " → " + InternetServer.String(),
				to: netip.AddrPortFrom(InternetServer, 80), wantLocal: InternetServer, wantRemote: want}
			probes = append(probes, pr)
			if p == snatPod {
				snatProbe = pr
			}
		}
	}
	runProbes(probes, timeout)

	// NodePort: from the internet to <node primary IP>:30080, DNATed to a
	// pod (one on a secondary ENI when there is one), as kube-proxy does
	// for a service with externalTrafficPolicy Local (no SNAT).
	var npProbes []*probe
	allSecondary := true
	for _, n := range k.c.nodes {
		target := nodePortTarget(pods[n.Index])
		if target == nil {
			continue
		}
		allSecondary = allSecondary && target.Device > 0
		undo, err := addNodePort(ctx, n, n.Instance.PrimaryIP, target.IP)
		pr := &probe{check: CheckNodePort, from: k.inet.path,
			desc: fmt.Sprintf("internet → %s %s:%d → %s:%d", n.Name, n.Instance.PrimaryIP, NodePortPort, podDesc(target), probePort),
			to:   netip.AddrPortFrom(n.Instance.PrimaryIP, NodePortPort), wantLocal: target.IP, wantRemote: internetSide.Addr()}
		npProbes = append(npProbes, pr)
		if err != nil {
			pr.err = err
			continue
		}
		pr.run(timeout)
		if err := undo(); err != nil {
			k.c.fail("%s: remove NodePort rule: %v", n.Name, err)
		}
	}

	var out []Check
	same := summarise(CheckSameNode, probes, func(p, t int) string {
		return fmt.Sprintf("%d/%d connections, source address kept", p, t)
	})
	if !same.Ran {
		same.Detail = "needs two pods on a node"
	}
	out = append(out, same)
	cross := summarise(CheckCrossNode, probes, func(p, t int) string {
		return fmt.Sprintf("%d/%d connections, source address kept", p, t)
	})
	if !cross.Ran {
		cross.Detail = "needs two nodes"
	}
	out = append(out, cross)
	k.c.mu.Lock()
	if snatProbe != nil {
		k.c.snatExpected = snatProbe.wantRemote.String()
		if snatProbe.seenRemote.IsValid() {
			k.c.snatSource = snatProbe.seenRemote.String()
		}
	}
	k.c.nodePortSecondary = len(npProbes) > 0 && allSecondary
	k.c.mu.Unlock()
	out = append(out, summarise(CheckInternet, probes, func(p, t int) string {
		what := "SNAT to the node's primary IP"
		if k.c.cfg.ExternalSNAT {
			what = "no SNAT (external SNAT): pod addresses"
		}
		d := fmt.Sprintf("%d/%d connections, %s", p, t, what)
		if snatProbe != nil {
			d += fmt.Sprintf("; %s from %s seen as %s", InternetServer, snatProbe.desc[:strings.Index(snatProbe.desc, " →")], orDash(k.c.snatSource))
		}
		return d
	}))
	np := summarise(CheckNodePort, npProbes, func(p, t int) string {
		d := fmt.Sprintf("%d/%d nodes: replies leave through eth0, not dropped by rp_filter", p, t)
		if len(npProbes) > 0 {
			d += "; " + npProbes[0].desc
		}
		return d
	})
	if !np.Ran {
		np.Detail = "needs a pod"
	}
	out = append(out, np)
	internet := &out[len(out)-2]
	if !internet.Ran {
		internet.Detail = "needs a pod"
	}
	return out
}

// nodePortTarget prefers a pod on a secondary ENI (also the pod whose
// internet source address the report shows).
func nodePortTarget(pods []*Pod) *Pod {
	for _, p := range pods {
		if p.Device > 0 {
			return p
		}
	}
	if len(pods) > 0 {
		return pods[0]
	}
	return nil
}
