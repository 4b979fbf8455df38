package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// IMDSv2 headers and limits.
const (
	headerToken    = "X-Aws-Ec2-Metadata-Token"
	headerTokenTTL = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	maxTokenTTL    = 21600
)

// imdsHandler serves the metadata of one instance. Only IMDSv2 is
// accepted: every GET needs a token from PUT /latest/api/token. Token
// lifetimes run on wall-clock time, not on the cloud's clock: clients
// (the SDK among them) expire their cached tokens by wall-clock time, and
// a simulation that moves virtual time by hours must not invalidate them.
type imdsHandler struct {
	s    *Server
	id   core.InstanceID
	mu   sync.Mutex
	toks map[string]time.Time // token -> expiry
}

var _ http.Handler = (*imdsHandler)(nil)

// IMDSHandler returns the metadata service of one instance (the same
// handler, with the same tokens, on every call). The instance is tracked
// for attach hooks. See the package documentation for the paths served.
func (s *Server) IMDSHandler(instance core.InstanceID) http.Handler {
	s.mu.Lock()
	h, ok := s.imds[instance]
	if !ok {
		h = &imdsHandler{s: s, id: instance, toks: map[string]time.Time{}}
		s.imds[instance] = h
	}
	s.mu.Unlock()
	if !ok {
		s.Track(instance)
	}
	return h
}

func (h *imdsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.s.log.Debug("imds request", "instance", string(h.id), "method", r.Method, "path", r.URL.Path)
	if r.URL.Path == "/latest/api/token" {
		h.token(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.valid(r.Header.Get(headerToken)) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/latest/")
	if !ok && r.URL.Path != "/latest" {
		http.NotFound(w, r)
		return
	}
	tree, ok := h.tree(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, ok := tree.get(path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(path, "/document") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain")
	}
	_, _ = w.Write([]byte(body))
}

func (h *imdsHandler) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", "PUT")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-Forwarded-For") != "" {
		// IMDS refuses token requests that went through a proxy.
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	ttl, err := strconv.Atoi(r.Header.Get(headerTokenTTL))
	if err != nil || ttl < 1 || ttl > maxTokenTTL {
		http.Error(w, "invalid or missing "+headerTokenTTL, http.StatusBadRequest)
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	now := h.s.now()
	h.mu.Lock()
	for t, exp := range h.toks {
		if !exp.After(now) {
			delete(h.toks, t)
		}
	}
	h.toks[tok] = now.Add(time.Duration(ttl) * time.Second)
	h.mu.Unlock()
	w.Header().Set(headerTokenTTL, strconv.Itoa(ttl))
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte(tok))
}

func (h *imdsHandler) valid(tok string) bool {
	if tok == "" {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.toks[tok]
	return ok && exp.After(h.s.now())
}

// mdTree is the metadata of one instance as leaf path -> value, below
// /latest/. Directories are implied by the leaves.
type mdTree map[string]string

// get returns a leaf's value or a directory listing: one child per line,
// subdirectories with a trailing slash.
func (t mdTree) get(path string) (string, bool) {
	if v, ok := t[path]; ok && !strings.HasSuffix(path, "/") {
		return v, true
	}
	dir := strings.TrimSuffix(path, "/")
	if dir != "" {
		dir += "/"
	}
	var kids []string
	for leaf := range t {
		rest, ok := strings.CutPrefix(leaf, dir)
		if !ok {
			continue
		}
		name, _, sub := strings.Cut(rest, "/")
		if sub {
			name += "/"
		}
		if !slices.Contains(kids, name) {
			kids = append(kids, name)
		}
	}
	if len(kids) == 0 {
		return "", false
	}
	slices.Sort(kids)
	return strings.Join(kids, "\n"), true
}

type identityDocument struct {
	AccountID        string `json:"accountId"`
	Architecture     string `json:"architecture"`
	AvailabilityZone string `json:"availabilityZone"`
	InstanceID       string `json:"instanceId"`
	InstanceType     string `json:"instanceType"`
	PendingTime      string `json:"pendingTime"`
	PrivateIP        string `json:"privateIp"`
	Region           string `json:"region"`
	Version          string `json:"version"`
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, "\n")
}

func joinPrefixes(ps []netip.Prefix) string {
	return strings.Join(prefixStrings(ps), "\n")
}

// hostname renders EC2's private DNS name of an address.
func hostname(a netip.Addr, region string) string {
	return "ip-" + strings.ReplaceAll(a.String(), ".", "-") + "." + region + ".compute.internal"
}

// tree renders the instance's metadata now: identity and placement from
// the instance, interfaces from the (lagging) metadata view of the cloud,
// VPC blocks from EC2.
func (h *imdsHandler) tree(r *http.Request) (mdTree, bool) {
	md := h.s.cloud.Metadata(h.id)
	ident, err := md.Identity(r.Context())
	if err != nil {
		return nil, false
	}
	enis, err := md.Interfaces(r.Context())
	if err != nil {
		return nil, false
	}
	inst, ok := h.s.cloud.Instance(h.id)
	if !ok {
		return nil, false
	}
	doc, _ := json.MarshalIndent(identityDocument{
		AccountID:        h.s.cfg.AccountID,
		Architecture:     "x86_64",
		AvailabilityZone: ident.AvailabilityZone,
		InstanceID:       string(ident.ID),
		InstanceType:     ident.Type,
		PendingTime:      "2024-01-01T00:00:00Z",
		PrivateIP:        ident.PrimaryIP.String(),
		Region:           ident.Region,
		Version:          "2017-09-30",
	}, "", "  ")
	const m = "meta-data/"
	t := mdTree{
		"dynamic/instance-identity/document": string(doc),
		m + "instance-id":                    string(ident.ID),
		m + "instance-type":                  ident.Type,
		m + "local-ipv4":                     ident.PrimaryIP.String(),
		m + "local-hostname":                 hostname(ident.PrimaryIP, ident.Region),
		m + "hostname":                       hostname(ident.PrimaryIP, ident.Region),
		m + "mac":                            ident.PrimaryMAC,
		m + "placement/availability-zone":    ident.AvailabilityZone,
		m + "placement/region":               ident.Region,
	}
	for _, e := range enis {
		d := m + "network/interfaces/macs/" + e.MAC + "/"
		t[d+"device-number"] = strconv.Itoa(e.DeviceNumber)
		t[d+"network-card"] = strconv.Itoa(e.NetworkCard)
		t[d+"interface-id"] = string(e.ID)
		t[d+"mac"] = e.MAC
		t[d+"owner-id"] = h.s.cfg.AccountID
		t[d+"local-hostname"] = hostname(e.PrimaryIP, ident.Region)
		t[d+"local-ipv4s"] = joinAddrs(append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...))
		t[d+"subnet-id"] = string(e.SubnetID)
		t[d+"subnet-ipv4-cidr-block"] = e.SubnetCIDR.String()
		t[d+"vpc-id"] = e.VPCID
		if len(inst.VPCCIDRs) > 0 {
			t[d+"vpc-ipv4-cidr-block"] = inst.VPCCIDRs[0].String()
			t[d+"vpc-ipv4-cidr-blocks"] = joinPrefixes(inst.VPCCIDRs)
		}
		if len(inst.VPCIPv6CIDRs) > 0 {
			t[d+"vpc-ipv6-cidr-blocks"] = joinPrefixes(inst.VPCIPv6CIDRs)
		}
		if e.SubnetIPv6CIDR.IsValid() {
			t[d+"subnet-ipv6-cidr-blocks"] = e.SubnetIPv6CIDR.String()
		}
		if len(e.SecurityGroups) > 0 {
			t[d+"security-group-ids"] = strings.Join(e.SecurityGroups, "\n")
		}
		if len(e.IPv4Prefixes) > 0 {
			t[d+"ipv4-prefix"] = joinPrefixes(e.IPv4Prefixes)
		}
		if len(e.IPv6Prefixes) > 0 {
			t[d+"ipv6-prefix"] = joinPrefixes(e.IPv6Prefixes)
		}
	}
	return t, true
}
