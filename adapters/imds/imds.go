package imds

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	wallclock "github.com/vpc-cni/vpc-cni/adapters/clock"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Defaults of Config.
const (
	DefaultMaxAttempts        = 3
	DefaultWaitInitialBackoff = 100 * time.Millisecond
	DefaultWaitMaxBackoff     = 2 * time.Second
)

// Config configures the metadata client. Zero fields take the defaults.
type Config struct {
	// Endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT. Empty: the SDK reads
	// that variable itself, else uses http://169.254.169.254.
	Endpoint string
	// MaxAttempts bounds the SDK's attempts per request.
	MaxAttempts int
	// WaitInitialBackoff and WaitMaxBackoff bound the pause between two
	// polls of WaitFor, which doubles from the first to the second.
	WaitInitialBackoff time.Duration
	WaitMaxBackoff     time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.WaitInitialBackoff <= 0 {
		c.WaitInitialBackoff = DefaultWaitInitialBackoff
	}
	if c.WaitMaxBackoff <= 0 {
		c.WaitMaxBackoff = DefaultWaitMaxBackoff
	}
	if c.WaitMaxBackoff < c.WaitInitialBackoff {
		c.WaitMaxBackoff = c.WaitInitialBackoff
	}
	return c
}

// Client is ports.Metadata on the instance metadata service. It is safe
// for concurrent use.
type Client struct {
	cfg   Config
	api   *imds.Client
	clock ports.Clock
	log   *slog.Logger
}

var _ ports.Metadata = (*Client)(nil)

// New builds a client. clock (used by WaitFor) nil is the wall clock; log
// nil discards logs. It does no network I/O.
func New(cfg Config, clock ports.Clock, log *slog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("imds config: endpoint %q is not an http(s) URL with a host: %w", cfg.Endpoint, core.ErrInvalidParameter)
		}
	}
	if clock == nil {
		clock = wallclock.Real{}
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	api := imds.New(imds.Options{
		Endpoint:       cfg.Endpoint,
		EnableFallback: aws.FalseTernary, // IMDSv2 only
		Retryer:        retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = cfg.MaxAttempts }),
	})
	return &Client{cfg: cfg, api: api, clock: clock, log: log}, nil
}

// get reads one metadata path. A 404 is an error wrapping core.ErrNotFound.
func (c *Client) get(ctx context.Context, path string) (string, error) {
	out, err := c.api.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		var resp interface{ HTTPStatusCode() int }
		if errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound {
			return "", fmt.Errorf("imds: read %s: %w: %w", path, core.ErrNotFound, err)
		}
		return "", fmt.Errorf("imds: read %s: %w", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	if err != nil {
		return "", fmt.Errorf("imds: read %s: %w", path, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// optional reads a path that may be absent; absent reads as "".
func (c *Client) optional(ctx context.Context, path string) (string, error) {
	v, err := c.get(ctx, path)
	if errors.Is(err, core.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// Identity reads the instance's id, type, placement, region, primary MAC
// and primary address. The region comes from the instance identity
// document, or from placement/region when the document is unavailable.
func (c *Client) Identity(ctx context.Context) (core.InstanceIdentity, error) {
	var id core.InstanceIdentity
	var err error
	fields := []struct {
		path string
		dst  *string
	}{
		{"instance-id", (*string)(&id.ID)},
		{"instance-type", &id.Type},
		{"placement/availability-zone", &id.AvailabilityZone},
		{"mac", &id.PrimaryMAC},
	}
	for _, f := range fields {
		if *f.dst, err = c.get(ctx, f.path); err != nil {
			return core.InstanceIdentity{}, fmt.Errorf("read instance identity: %w", err)
		}
	}
	ip, err := c.get(ctx, "local-ipv4")
	if err != nil && !errors.Is(err, core.ErrNotFound) { // IPv6-only instances have none
		return core.InstanceIdentity{}, fmt.Errorf("read instance identity: %w", err)
	}
	if ip != "" {
		if id.PrimaryIP, err = netip.ParseAddr(ip); err != nil {
			return core.InstanceIdentity{}, fmt.Errorf("read instance identity: parse local-ipv4 %q: %w", ip, err)
		}
	}
	doc, derr := c.api.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{})
	if derr == nil && doc.Region != "" {
		id.Region = doc.Region
	} else {
		region, err := c.get(ctx, "placement/region")
		if err != nil {
			return core.InstanceIdentity{}, fmt.Errorf("read instance identity: region from neither the identity document (%v) nor placement: %w", derr, err)
		}
		id.Region = region
	}
	cidrs, err := c.VPCCIDRs(ctx)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return core.InstanceIdentity{}, fmt.Errorf("read instance identity: %w", err)
	}
	id.VPCCIDRs = cidrs
	return id, nil
}

// Interfaces lists the attached ENIs as metadata shows them, in (network
// card, device) order. Tags, status and attachment ids are not part of
// metadata and stay empty.
func (c *Client) Interfaces(ctx context.Context) ([]core.ENI, error) {
	macs, err := c.get(ctx, "network/interfaces/macs/")
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []core.ENI
	for _, line := range strings.Fields(macs) {
		mac := strings.TrimSuffix(line, "/")
		e, err := c.readInterface(ctx, mac)
		if err != nil {
			return nil, fmt.Errorf("list interfaces: %w", err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b core.ENI) int {
		return cmp.Or(cmp.Compare(a.NetworkCard, b.NetworkCard), cmp.Compare(a.DeviceNumber, b.DeviceNumber))
	})
	return out, nil
}

func (c *Client) readInterface(ctx context.Context, mac string) (core.ENI, error) {
	base := "network/interfaces/macs/" + mac + "/"
	e := core.ENI{MAC: mac}
	var s string
	var err error
	required := func(field string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = c.get(ctx, base+field)
		return v
	}
	optional := func(field string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = c.optional(ctx, base+field)
		return v
	}
	intField := func(field, v string) int {
		if err != nil || v == "" {
			return 0
		}
		n, perr := strconv.Atoi(v)
		if perr != nil {
			err = fmt.Errorf("parse %s%s %q: %w", base, field, v, perr)
		}
		return n
	}

	e.DeviceNumber = intField("device-number", required("device-number"))
	e.NetworkCard = intField("network-card", optional("network-card"))
	e.ID = core.ENIID(required("interface-id"))
	e.SubnetID = core.SubnetID(required("subnet-id"))
	e.VPCID = required("vpc-id")
	e.SecurityGroups = fields(optional("security-group-ids"))
	if s = optional("subnet-ipv4-cidr-block"); s != "" && err == nil {
		e.SubnetCIDR, err = netip.ParsePrefix(s)
	}
	if s = optional("subnet-ipv6-cidr-blocks"); s != "" && err == nil {
		e.SubnetIPv6CIDR, err = netip.ParsePrefix(strings.Fields(s)[0])
	}
	ips := parseAddrs(optional("local-ipv4s"), &err)
	e.IPv4Prefixes = parsePrefixes(optional("ipv4-prefix"), &err)
	e.IPv6Prefixes = parsePrefixes(optional("ipv6-prefix"), &err)
	if err != nil {
		return core.ENI{}, fmt.Errorf("read interface %s: %w", mac, err)
	}
	if len(ips) > 0 {
		e.PrimaryIP = ips[0]
	}
	if len(ips) > 1 {
		e.SecondaryIPs = ips[1:]
	}
	e.Primary = e.DeviceNumber == 0 && e.NetworkCard == 0
	return e, nil
}

// fields splits a whitespace-separated list; nil when empty.
func fields(s string) []string {
	if f := strings.Fields(s); len(f) > 0 {
		return f
	}
	return nil
}

func parseAddrs(s string, errp *error) []netip.Addr {
	if *errp != nil {
		return nil
	}
	var out []netip.Addr
	for _, f := range strings.Fields(s) {
		a, err := netip.ParseAddr(f)
		if err != nil {
			*errp = fmt.Errorf("parse address %q: %w", f, err)
			return nil
		}
		out = append(out, a)
	}
	return out
}

func parsePrefixes(s string, errp *error) []netip.Prefix {
	if *errp != nil {
		return nil
	}
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		p, err := netip.ParsePrefix(f)
		if err != nil {
			*errp = fmt.Errorf("parse prefix %q: %w", f, err)
			return nil
		}
		out = append(out, p)
	}
	return out
}

// VPCCIDRs returns the IPv4 CIDR blocks of the instance's VPC (a VPC may
// have several), as listed for the primary interface.
func (c *Client) VPCCIDRs(ctx context.Context) ([]netip.Prefix, error) {
	return c.vpcBlocks(ctx, "vpc-ipv4-cidr-blocks", true)
}

// VPCIPv6CIDRs returns the IPv6 CIDR blocks of the instance's VPC; none when
// the VPC has no IPv6 block.
func (c *Client) VPCIPv6CIDRs(ctx context.Context) ([]netip.Prefix, error) {
	return c.vpcBlocks(ctx, "vpc-ipv6-cidr-blocks", false)
}

func (c *Client) vpcBlocks(ctx context.Context, field string, required bool) ([]netip.Prefix, error) {
	mac, err := c.get(ctx, "mac")
	if err != nil {
		return nil, fmt.Errorf("read VPC CIDR blocks: %w", err)
	}
	path := "network/interfaces/macs/" + mac + "/" + field
	var s string
	if required {
		s, err = c.get(ctx, path)
	} else {
		s, err = c.optional(ctx, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read VPC CIDR blocks: %w", err)
	}
	blocks := parsePrefixes(s, &err)
	if err != nil {
		return nil, fmt.Errorf("read VPC CIDR blocks from %s: %w", path, err)
	}
	return blocks, nil
}

// ErrWaitTimeout is wrapped by WaitFor's error when metadata did not show
// what was expected in time.
var ErrWaitTimeout = errors.New("timed out waiting for instance metadata")

// WaitFor polls metadata until the ENI is listed with at least wantIPs
// secondary addresses and wantPrefixes prefixes (IPv4 /28 and IPv6 /80
// together), and returns it as seen. Polls are spaced by a backoff that
// doubles from Config.WaitInitialBackoff up to Config.WaitMaxBackoff; each
// wait is logged. After timeout (measured on the client's clock) it returns
// an error wrapping ErrWaitTimeout that says what was last seen; when ctx
// ends first, the context's error. Failed reads while waiting (the listing
// can be briefly inconsistent during an attachment) count as "not yet".
func (c *Client) WaitFor(ctx context.Context, eni core.ENIID, wantIPs, wantPrefixes int, timeout time.Duration) (core.ENI, error) {
	start := c.clock.Now()
	deadline := start.Add(timeout)
	backoff := c.cfg.WaitInitialBackoff
	for poll := 1; ; poll++ {
		seen, found, err := c.lookup(ctx, eni)
		ips, prefixes := len(seen.SecondaryIPs), len(seen.IPv4Prefixes)+len(seen.IPv6Prefixes)
		if found && ips >= wantIPs && prefixes >= wantPrefixes {
			if poll > 1 {
				c.log.Info("ENI visible in instance metadata", "eni", string(eni), "polls", poll, "waited", c.clock.Now().Sub(start).String())
			}
			return seen, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return core.ENI{}, fmt.Errorf("wait for ENI %s in instance metadata: %w", eni, ctxErr)
		}
		remaining := deadline.Sub(c.clock.Now())
		if remaining <= 0 {
			state := "not listed"
			if found {
				state = fmt.Sprintf("listed with %d addresses and %d prefixes", ips, prefixes)
			}
			if err != nil {
				state += fmt.Sprintf(", last read failed: %v", err)
			}
			return core.ENI{}, fmt.Errorf("wait for ENI %s in instance metadata with %d addresses and %d prefixes: %s after %d polls in %s: %w",
				eni, wantIPs, wantPrefixes, state, poll, timeout, ErrWaitTimeout)
		}
		pause := min(backoff, remaining)
		attrs := []any{"eni", string(eni), "poll", poll, "found", found, "ips", ips, "want_ips", wantIPs,
			"prefixes", prefixes, "want_prefixes", wantPrefixes, "next_poll_in", pause.String()}
		if err != nil {
			attrs = append(attrs, "error", err)
		}
		c.log.Info("waiting for ENI in instance metadata", attrs...)
		if err := c.clock.Sleep(ctx, pause); err != nil {
			return core.ENI{}, fmt.Errorf("wait for ENI %s in instance metadata: %w", eni, err)
		}
		backoff = min(2*backoff, c.cfg.WaitMaxBackoff)
	}
}

func (c *Client) lookup(ctx context.Context, eni core.ENIID) (core.ENI, bool, error) {
	enis, err := c.Interfaces(ctx)
	if err != nil {
		return core.ENI{}, false, err
	}
	for _, e := range enis {
		if e.ID == eni {
			return e, true, nil
		}
	}
	return core.ENI{}, false, nil
}
