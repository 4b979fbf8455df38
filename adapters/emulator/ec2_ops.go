package emulator

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Each method below parses one action's parameters (no side effects) and
// returns the function that performs it on the cloud.

var eniFilterNames = []string{
	"network-interface-id", "attachment.instance-id", "attachment.attachment-id",
	"attachment.device-index", "attachment.network-card-index", "attachment.status",
	"attachment.delete-on-termination", "vpc-id", "subnet-id", "status", "description",
	"mac-address", "interface-type", "private-ip-address", "owner-id",
	"tag-key", "tag-value",
}

func (s *Server) describeENIs(p *params) (exec, *memory.APIError) {
	ids := p.list("NetworkInterfaceId")
	fs, e := p.filters(eniFilterNames, true)
	if e != nil {
		return nil, e
	}
	pg, e := p.pagination(5, 1000, len(ids) > 0)
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		var f ports.ENIFilter
		for _, id := range ids {
			f.IDs = append(f.IDs, core.ENIID(id))
		}
		all, err := s.cloud.DescribeENIs(ctx, f)
		if err != nil {
			return nil, err
		}
		var match []core.ENI
		for _, eni := range all {
			if s.eniMatches(eni, fs) {
				match = append(match, eni)
			}
		}
		lo, hi, next := pg.window(len(match))
		out := &describeENIsResult{NextToken: next}
		for _, eni := range match[lo:hi] {
			out.ENIs = append(out.ENIs, s.renderENI(eni))
		}
		return out, nil
	}, nil
}

func (s *Server) eniMatches(e core.ENI, fs []filter) bool {
	attached := e.AttachmentID != ""
	for _, f := range fs {
		if handled, ok := matchTags(f, e.Tags); handled {
			if !ok {
				return false
			}
			continue
		}
		var vals []string
		switch f.name {
		case "network-interface-id":
			vals = []string{string(e.ID)}
		case "attachment.instance-id":
			if attached {
				vals = []string{string(e.InstanceID)}
			}
		case "attachment.attachment-id":
			if attached {
				vals = []string{e.AttachmentID}
			}
		case "attachment.device-index":
			if attached {
				vals = []string{strconv.Itoa(e.DeviceNumber)}
			}
		case "attachment.network-card-index":
			if attached {
				vals = []string{strconv.Itoa(e.NetworkCard)}
			}
		case "attachment.status":
			if attached {
				vals = []string{"attached"}
			}
		case "attachment.delete-on-termination":
			if attached {
				vals = []string{strconv.FormatBool(e.DeleteOnTermination)}
			}
		case "vpc-id":
			vals = []string{e.VPCID}
		case "subnet-id":
			vals = []string{string(e.SubnetID)}
		case "status":
			vals = []string{e.Status}
		case "description":
			vals = []string{e.Description}
		case "mac-address":
			vals = []string{e.MAC}
		case "interface-type":
			vals = []string{interfaceType(e)}
		case "owner-id":
			vals = []string{s.cfg.AccountID}
		case "private-ip-address":
			vals = append(vals, e.PrimaryIP.String())
			for _, a := range e.SecondaryIPs {
				vals = append(vals, a.String())
			}
		}
		if !matchAny(f.values, vals...) {
			return false
		}
	}
	return true
}

var subnetFilterNames = []string{
	"subnet-id", "vpc-id", "availability-zone", "cidr-block", "state", "owner-id", "tag-key", "tag-value",
}

func (s *Server) describeSubnets(p *params) (exec, *memory.APIError) {
	ids := p.list("SubnetId")
	fs, e := p.filters(subnetFilterNames, true)
	if e != nil {
		return nil, e
	}
	pg, e := p.pagination(5, 1000, len(ids) > 0)
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		var f ports.SubnetFilter
		for _, id := range ids {
			f.IDs = append(f.IDs, core.SubnetID(id))
		}
		all, err := s.cloud.DescribeSubnets(ctx, f)
		if err != nil {
			return nil, err
		}
		var match []core.Subnet
	next:
		for _, sn := range all {
			for _, f := range fs {
				if handled, ok := matchTags(f, sn.Tags); handled {
					if !ok {
						continue next
					}
					continue
				}
				var v string
				switch f.name {
				case "subnet-id":
					v = string(sn.ID)
				case "vpc-id":
					v = sn.VPCID
				case "availability-zone":
					v = sn.AvailabilityZone
				case "cidr-block":
					v = sn.CIDR.String()
				case "state":
					v = "available"
				case "owner-id":
					v = s.cfg.AccountID
				}
				if !matchAny(f.values, v) {
					continue next
				}
			}
			match = append(match, sn)
		}
		lo, hi, next := pg.window(len(match))
		out := &describeSubnetsResult{NextToken: next}
		for _, sn := range match[lo:hi] {
			out.Subnets = append(out.Subnets, s.renderSubnet(sn))
		}
		return out, nil
	}, nil
}

// describeInstances describes the named instances, or the tracked ones
// when none is named (memory.Cloud cannot list instances). Each instance
// is one memory DescribeInstance call.
func (s *Server) describeInstances(p *params) (exec, *memory.APIError) {
	ids := p.list("InstanceId")
	fs, e := p.filters([]string{"instance-id"}, false)
	if e != nil {
		return nil, e
	}
	pg, e := p.pagination(5, 1000, len(ids) > 0)
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		explicit := len(ids) > 0
		want := ids
		if !explicit {
			for _, id := range s.trackedInstances() {
				want = append(want, string(id))
			}
		}
		var found []core.Instance
		for _, id := range want {
			in, err := s.cloud.DescribeInstance(ctx, core.InstanceID(id))
			if err != nil {
				if !explicit && strings.HasSuffix(apiCode(err), ".NotFound") {
					continue // a tracked instance that was terminated
				}
				return nil, err
			}
			if !slices.ContainsFunc(fs, func(f filter) bool { return !matchAny(f.values, string(in.ID)) }) {
				found = append(found, in)
			}
		}
		lo, hi, next := pg.window(len(found))
		out := &describeInstancesResult{NextToken: next}
		for _, in := range found[lo:hi] {
			out.Reservations = append(out.Reservations, s.renderInstance(in))
		}
		return out, nil
	}, nil
}

// describeInstanceTypes describes the named types; without names it
// returns an empty set (memory.Cloud cannot enumerate types).
func (s *Server) describeInstanceTypes(p *params) (exec, *memory.APIError) {
	names := p.list("InstanceType")
	if _, e := p.filters(nil, false); e != nil {
		return nil, e
	}
	pg, e := p.pagination(5, 100, false)
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		out := &describeInstanceTypesResult{}
		lo, hi, next := pg.window(len(names))
		out.NextToken = next
		for _, n := range names[lo:hi] {
			t, err := s.cloud.DescribeInstanceType(ctx, n)
			if err != nil {
				return nil, err
			}
			out.Types = append(out.Types, renderInstanceType(t))
		}
		return out, nil
	}, nil
}

// describeVpcs reports the VPCs of the tracked instances. memory.Cloud
// has no VPC query, so the blocks come from its uncounted instance views:
// the call is not counted in memory.Cloud.Calls and is neither throttled
// nor subject to injected faults, and a VPC without a tracked instance is
// not found.
func (s *Server) describeVpcs(p *params) (exec, *memory.APIError) {
	ids := p.list("VpcId")
	fs, e := p.filters([]string{"vpc-id", "cidr", "cidr-block-association.cidr-block", "state", "owner-id", "is-default"}, false)
	if e != nil {
		return nil, e
	}
	pg, e := p.pagination(5, 1000, len(ids) > 0)
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var vpcs []core.Instance // one instance view per VPC, in tracking order
		for _, id := range s.trackedInstances() {
			in, ok := s.cloud.Instance(id)
			if ok && !slices.ContainsFunc(vpcs, func(v core.Instance) bool { return v.VPCID == in.VPCID }) {
				vpcs = append(vpcs, in)
			}
		}
		for _, id := range ids {
			if !slices.ContainsFunc(vpcs, func(v core.Instance) bool { return v.VPCID == id }) {
				return nil, protoErr("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
			}
		}
		var match []xmlVPC
	next:
		for _, in := range vpcs {
			if len(ids) > 0 && !slices.Contains(ids, in.VPCID) {
				continue
			}
			x := s.renderVPC(in)
			for _, f := range fs {
				var vals []string
				switch f.name {
				case "vpc-id":
					vals = []string{x.VPCID}
				case "cidr", "cidr-block-association.cidr-block":
					vals = prefixStrings(in.VPCCIDRs)
				case "state":
					vals = []string{x.State}
				case "owner-id":
					vals = []string{x.OwnerID}
				case "is-default":
					vals = []string{"false"}
				}
				if !matchAny(f.values, vals...) {
					continue next
				}
			}
			match = append(match, x)
		}
		lo, hi, next := pg.window(len(match))
		return &describeVpcsResult{VPCs: match[lo:hi], NextToken: next}, nil
	}, nil
}

func (s *Server) createENI(p *params) (exec, *memory.APIError) {
	subnet, e := p.required("SubnetId")
	if e != nil {
		return nil, e
	}
	req := ports.CreateENIRequest{
		SubnetID:       core.SubnetID(subnet),
		SecurityGroups: p.list("SecurityGroupId"),
		Description:    p.str("Description"),
	}
	var ipCount, v4Count bool
	if req.SecondaryIPs, ipCount, e = p.int("SecondaryPrivateIpAddressCount"); e != nil {
		return nil, e
	}
	if req.IPv4Prefixes, v4Count, e = p.int("Ipv4PrefixCount"); e != nil {
		return nil, e
	}
	if req.IPv6Prefixes, _, e = p.int("Ipv6PrefixCount"); e != nil {
		return nil, e
	}
	if ipCount && v4Count {
		// EC2 takes either a count of addresses or a count of prefixes.
		return nil, protoErr(memory.CodeInvalidParameterCombination,
			"SecondaryPrivateIpAddressCount and Ipv4PrefixCount cannot be specified together")
	}
	if t := p.str("InterfaceType"); t != "" && t != "interface" {
		return nil, unsupported("InterfaceType=" + t)
	}
	for _, k := range []string{"PrivateIpAddress", "Ipv6AddressCount"} {
		if p.has(k) {
			p.str(k)
			return nil, unsupported(k)
		}
	}
	for _, k := range []string{"PrivateIpAddresses", "Ipv6Addresses", "Ipv4Prefix", "Ipv6Prefix"} {
		if len(p.indexes(k)) > 0 {
			return nil, unsupported(k)
		}
	}
	for _, n := range p.indexes("TagSpecification") {
		base := "TagSpecification." + strconv.Itoa(n)
		if rt := p.str(base + ".ResourceType"); rt != "" && rt != "network-interface" {
			return nil, protoErr(memory.CodeInvalidParameterValue, "'%s' is not a valid taggable resource type for this operation.", rt)
		}
		t, e := p.tags(base + ".Tag")
		if e != nil {
			return nil, e
		}
		if req.Tags == nil {
			req.Tags = map[string]string{}
		}
		for k, v := range t {
			req.Tags[k] = v
		}
	}
	token := p.str("ClientToken")
	return func(ctx context.Context) (result, error) {
		if token != "" {
			s.mu.Lock()
			id, seen := s.clientTokens[token]
			s.mu.Unlock()
			if seen {
				if eni, ok := s.cloud.ENI(id); ok {
					return &createENIResult{ENI: s.renderENI(eni), ClientToken: token}, nil
				}
			}
		}
		eni, err := s.cloud.CreateENI(ctx, req)
		if err != nil {
			return nil, err
		}
		if token != "" {
			s.mu.Lock()
			s.clientTokens[token] = eni.ID
			s.mu.Unlock()
		}
		return &createENIResult{ENI: s.renderENI(eni), ClientToken: token}, nil
	}, nil
}

// tags reads base.N.Key / base.N.Value pairs.
func (p *params) tags(base string) (map[string]string, *memory.APIError) {
	out := map[string]string{}
	for _, n := range p.indexes(base) {
		b := base + "." + strconv.Itoa(n)
		k, e := p.required(b + ".Key")
		if e != nil {
			return nil, e
		}
		out[k] = p.str(b + ".Value")
	}
	return out, nil
}

func (s *Server) attachENI(p *params) (exec, *memory.APIError) {
	device, e := p.requiredInt("DeviceIndex")
	if e != nil {
		return nil, e
	}
	inst, e := p.required("InstanceId")
	if e != nil {
		return nil, e
	}
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	card, _, e := p.int("NetworkCardIndex")
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		s.Track(core.InstanceID(inst))
		id, err := s.cloud.AttachENI(ctx, core.ENIID(eni), core.InstanceID(inst), device, card)
		if err != nil {
			return nil, err
		}
		return &attachResult{AttachmentID: id, NetworkCardIndex: card}, nil
	}, nil
}

func (s *Server) modifyENI(p *params) (exec, *memory.APIError) {
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	for _, k := range []string{"Description.Value", "SourceDestCheck.Value"} {
		if p.has(k) {
			p.str(k)
			return nil, unsupported(strings.TrimSuffix(k, ".Value"))
		}
	}
	if len(p.indexes("SecurityGroupId")) > 0 {
		return nil, unsupported("SecurityGroupId")
	}
	dot, set, e := p.bool("Attachment.DeleteOnTermination")
	if e != nil {
		return nil, e
	}
	att := p.str("Attachment.AttachmentId")
	if !set {
		return nil, protoErr(memory.CodeInvalidParameterCombination, "No attribute specified to modify")
	}
	if att == "" {
		return nil, missing("Attachment.AttachmentId")
	}
	if !dot {
		// memory.Cloud can only set the flag (the CNI never clears it).
		return nil, unsupported("Attachment.DeleteOnTermination=false")
	}
	return func(ctx context.Context) (result, error) {
		if err := s.cloud.SetDeleteOnTermination(ctx, core.ENIID(eni), att); err != nil {
			return nil, err
		}
		return &returnResult{Return: true}, nil
	}, nil
}

func (s *Server) detachENI(p *params) (exec, *memory.APIError) {
	att, e := p.required("AttachmentId")
	if e != nil {
		return nil, e
	}
	force, _, e := p.bool("Force")
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		if err := s.cloud.DetachENI(ctx, att, force); err != nil {
			return nil, err
		}
		return &returnResult{Return: true}, nil
	}, nil
}

func (s *Server) deleteENI(p *params) (exec, *memory.APIError) {
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		if err := s.cloud.DeleteENI(ctx, core.ENIID(eni)); err != nil {
			return nil, err
		}
		return &returnResult{Return: true}, nil
	}, nil
}

func (s *Server) assignPrivate(p *params) (exec, *memory.APIError) {
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	ips, _, e := p.int("SecondaryPrivateIpAddressCount")
	if e != nil {
		return nil, e
	}
	prefixes, _, e := p.int("Ipv4PrefixCount")
	if e != nil {
		return nil, e
	}
	if _, _, e := p.bool("AllowReassignment"); e != nil {
		return nil, e
	}
	for _, k := range []string{"PrivateIpAddress", "Ipv4Prefix"} {
		if len(p.indexes(k)) > 0 {
			return nil, unsupported(k)
		}
	}
	return func(ctx context.Context) (result, error) {
		got, err := s.cloud.AssignIPv4(ctx, core.ENIID(eni), ips, prefixes)
		if err != nil {
			return nil, err
		}
		out := &assignPrivateResult{ID: eni, Prefixes: v4Prefixes(got.Prefixes)}
		for _, a := range got.IPs {
			out.IPs = append(out.IPs, xmlAssignedIP{PrivateIPAddress: a.String()})
		}
		return out, nil
	}, nil
}

func (s *Server) unassignPrivate(p *params) (exec, *memory.APIError) {
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	ips, e := p.addrs("PrivateIpAddress")
	if e != nil {
		return nil, e
	}
	prefixes, e := p.prefixes("Ipv4Prefix")
	if e != nil {
		return nil, e
	}
	return func(ctx context.Context) (result, error) {
		if err := s.cloud.UnassignIPv4(ctx, core.ENIID(eni), ips, prefixes); err != nil {
			return nil, err
		}
		return &returnResult{Return: true}, nil
	}, nil
}

func (s *Server) assignIPv6(p *params) (exec, *memory.APIError) {
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	n, _, e := p.int("Ipv6PrefixCount")
	if e != nil {
		return nil, e
	}
	if p.has("Ipv6AddressCount") {
		p.str("Ipv6AddressCount")
		return nil, unsupported("Ipv6AddressCount")
	}
	for _, k := range []string{"Ipv6Addresses", "Ipv6Prefix"} {
		if len(p.indexes(k)) > 0 {
			return nil, unsupported(k)
		}
	}
	return func(ctx context.Context) (result, error) {
		got, err := s.cloud.AssignIPv6Prefixes(ctx, core.ENIID(eni), n)
		if err != nil {
			return nil, err
		}
		return &assignIPv6Result{ID: eni, Prefixes: prefixStrings(got)}, nil
	}, nil
}

func (s *Server) unassignIPv6(p *params) (exec, *memory.APIError) {
	eni, e := p.required("NetworkInterfaceId")
	if e != nil {
		return nil, e
	}
	prefixes, e := p.prefixes("Ipv6Prefix")
	if e != nil {
		return nil, e
	}
	if len(p.indexes("Ipv6Addresses")) > 0 {
		return nil, unsupported("Ipv6Addresses")
	}
	return func(ctx context.Context) (result, error) {
		if err := s.cloud.UnassignIPv6Prefixes(ctx, core.ENIID(eni), prefixes); err != nil {
			return nil, err
		}
		return &unassignIPv6Result{ID: eni, Prefixes: prefixStrings(prefixes)}, nil
	}, nil
}

// createTags tags each resource with one memory CreateTags call; like EC2
// it stops at the first resource that fails.
func (s *Server) createTags(p *params) (exec, *memory.APIError) {
	ids := p.list("ResourceId")
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	t, e := p.tags("Tag")
	if e != nil {
		return nil, e
	}
	if len(t) == 0 {
		return nil, missing("Tag")
	}
	return func(ctx context.Context) (result, error) {
		for _, id := range ids {
			if err := s.cloud.CreateTags(ctx, id, t); err != nil {
				return nil, err
			}
		}
		return &returnResult{Return: true}, nil
	}, nil
}

// apiCode returns the EC2 error code of err, or "".
func apiCode(err error) string {
	var e *memory.APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
