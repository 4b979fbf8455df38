package local

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what a run found, printed by `vpc-cni local --json`.
type Report struct {
	Mode         string `json:"mode"`
	RunID        string `json:"run_id"`
	Firewall     string `json:"firewall"`
	ExternalSNAT bool   `json:"external_snat"`
	InstanceType string `json:"instance_type"`

	PodsRequested int `json:"pods_requested"`
	PodsWired     int `json:"pods_wired"`

	// ConnectivityChecked is false in memory mode, where no packet moves
	// and the ping fields below stay false.
	ConnectivityChecked bool `json:"connectivity_checked"`
	PingSameNode        bool `json:"ping_same_node"`
	PingCrossNode       bool `json:"ping_cross_node"`
	PingInternet        bool `json:"ping_internet"`
	NodePort            bool `json:"nodeport"`
	// NodePortSecondaryENI: the NodePort target pod was on a secondary ENI
	// (the case reverse-path filtering and connmark exist for).
	NodePortSecondaryENI bool `json:"nodeport_secondary_eni"`
	// SNATSource is the source address the internet side saw for a pod
	// (one on a secondary ENI when there is one); SNATExpected what it
	// should be: the node's primary IP, or the pod's own with external SNAT.
	SNATSource   string `json:"snat_source"`
	SNATExpected string `json:"snat_expected"`

	// Residue lists what teardown left: links, rules, routes, neighbour
	// entries, firewall rules, namespaces, ipamd allocations, CNI cache
	// files. It must be empty.
	Residue []string `json:"residue"`

	AddLatency Latency `json:"add_latency_ms"`
	// AddRetries counts ADDs the plugin asked to retry later (the pool
	// was growing); each retry was preceded by a DEL, as a runtime does.
	AddRetries int     `json:"add_retries"`
	DelLatency Latency `json:"del_latency_ms"`

	Nodes  []NodeReport `json:"nodes"`
	Checks []Check      `json:"checks"`
	// Failures are errors met on the way (failed ADDs, probes, teardown
	// steps), one line each.
	Failures []string `json:"failures"`
	// OK is true when every pod was wired, every check that ran passed,
	// nothing failed and the residue is empty.
	OK bool `json:"ok"`
}

// Latency is a distribution summary in milliseconds.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// NewLatency summarises durations (nearest-rank percentiles).
func NewLatency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*100) / 100 }
	return Latency{N: len(s), P50: ms(Percentile(s, 50)), P99: ms(Percentile(s, 99)), Max: ms(s[len(s)-1])}
}

// Percentile returns the nearest-rank p-th percentile of sorted durations
// (0 for none).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// NodeReport describes one node after the pods were added.
type NodeReport struct {
	Name         string      `json:"name"`
	InstanceID   string      `json:"instance_id"`
	PrimaryIP    string      `json:"primary_ip"`
	Subnet       string      `json:"subnet"`
	Netns        string      `json:"netns,omitempty"`
	Firewall     string      `json:"firewall,omitempty"`
	ENIs         []ENIReport `json:"enis"`
	Pods         []PodReport `json:"pods"`
	SecondaryENI int         `json:"secondary_enis_with_pods"`
}

// ENIReport is one attached ENI.
type ENIReport struct {
	ID           string `json:"id"`
	Device       int    `json:"device"`
	MAC          string `json:"mac"`
	PrimaryIP    string `json:"primary_ip"`
	SecondaryIPs int    `json:"secondary_ips"`
	Pods         int    `json:"pods"`
}

// PodReport is one pod.
type PodReport struct {
	Name     string  `json:"name"`
	IP       string  `json:"ip"`
	ENI      string  `json:"eni"`
	Device   int     `json:"device"`
	HostVeth string  `json:"host_veth"`
	AddMS    float64 `json:"add_ms"`
}

// Check is one connectivity check.
type Check struct {
	Name    string `json:"name"`
	Ran     bool   `json:"ran"`
	OK      bool   `json:"ok"`
	Probes  int    `json:"probes"`
	Passed  int    `json:"passed"`
	Detail  string `json:"detail"`
	Failure string `json:"first_failure,omitempty"`
}

// Names of the checks.
const (
	CheckSameNode  = "pod→pod same node"
	CheckCrossNode = "pod→pod across nodes"
	CheckInternet  = "pod→internet"
	CheckNodePort  = "NodePort→pod"
	CheckCNI       = "CNI CHECK"
)

// finish derives the summary booleans and OK from the checks.
func (r *Report) finish() {
	if r.Residue == nil {
		r.Residue = []string{}
	}
	if r.Failures == nil {
		r.Failures = []string{}
	}
	ok := r.PodsWired == r.PodsRequested && len(r.Residue) == 0 && len(r.Failures) == 0
	for _, c := range r.Checks {
		if c.Ran && !c.OK {
			ok = false
		}
		switch c.Name {
		case CheckSameNode:
			r.PingSameNode = c.Ran && c.OK
		case CheckCrossNode:
			r.PingCrossNode = c.Ran && c.OK
		case CheckInternet:
			r.PingInternet = c.Ran && c.OK
		case CheckNodePort:
			r.NodePort = c.Ran && c.OK
		}
	}
	r.OK = ok
}

// WriteTable prints the report for a person.
func (r Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	switch r.Mode {
	case ModeMemory:
		fmt.Fprintf(&b, "vpc-cni local: MEMORY datapath (not root: ipamd and the plugin logic run in-process, no packets move)\n")
	default:
		fmt.Fprintf(&b, "vpc-cni local: kernel datapath (aws-k8s-agent and aws-cni in network namespaces), firewall %s", r.Firewall)
		if r.ExternalSNAT {
			b.WriteString(", external SNAT")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tINSTANCE\tTYPE\tPRIMARY IP\tSUBNET\tENIS\tPODS\tNETNS")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", n.Name, n.InstanceID, r.InstanceType, n.PrimaryIP, n.Subnet, len(n.ENIs), len(n.Pods), orDash(n.Netns))
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tENI\tDEVICE\tMAC\tPRIMARY IP\tSECONDARY IPS\tPODS")
	for _, n := range r.Nodes {
		for _, e := range n.ENIs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", n.Name, e.ID, e.Device, e.MAC, e.PrimaryIP, e.SecondaryIPs, e.Pods)
		}
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOD\tIP\tENI DEVICE\tHOST VETH\tADD ms")
	for _, n := range r.Nodes {
		for _, p := range n.Pods {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.1f\n", n.Name, p.Name, p.IP, p.Device, p.HostVeth, p.AddMS)
		}
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	for _, c := range r.Checks {
		res := "ok"
		switch {
		case !c.Ran:
			res = "not run"
		case !c.OK:
			res = "FAILED"
		}
		detail := c.Detail
		if c.Failure != "" {
			detail += "; first failure: " + c.Failure
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, res, detail)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\npods wired %d/%d; CNI ADD p50 %.1f ms, p99 %.1f ms", r.PodsWired, r.PodsRequested, r.AddLatency.P50, r.AddLatency.P99)
	if r.DelLatency.N > 0 {
		fmt.Fprintf(&b, "; DEL p50 %.1f ms, p99 %.1f ms", r.DelLatency.P50, r.DelLatency.P99)
	}
	b.WriteString("\n")
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "failure: %s\n", f)
	}
	for _, x := range r.Residue {
		fmt.Fprintf(&b, "residue: %s\n", x)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
