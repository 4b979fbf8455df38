package netlink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/ports"
)

// HostVeths lists the node's veths named as pods' host veths are, with
// any prefix. See ports.HostNetwork.
func (d *Datapath) HostVeths(ctx context.Context) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	links, err := dump(d, "list links", d.h.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list host veths: %w", err)
	}
	out := map[string]bool{}
	for _, l := range links {
		if _, ok := netstate.PodVethSuffix(l.Attrs().Name); ok && isVeth(l) {
			out[l.Attrs().Name] = true
		}
	}
	return out, nil
}

// SyncPodRules adds the missing rules and host routes of wired pods. See
// ports.HostNetwork.
func (d *Datapath) SyncPodRules(ctx context.Context, pods []ports.PodRoute) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var errs []error
	var valid []ports.PodRoute
	for _, p := range pods {
		if err := netstate.ValidatePodRoute(p); err != nil {
			errs = append(errs, err)
			continue
		}
		valid = append(valid, p)
	}
	if len(valid) > 0 {
		d.mu.Lock()
		err := d.syncPods(valid)
		d.mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("repair pod rules: %w", errors.Join(errs...))
	}
	return nil
}

// syncPods reads links, rules and main-table routes once and adds what
// the wired pods miss. Call with d.mu held.
func (d *Datapath) syncPods(pods []ports.PodRoute) error {
	links, err := dump(d, "list links", d.h.LinkList)
	if err != nil {
		return err
	}
	byName := make(map[string]nl.Link, len(links))
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	raw, err := dump(d, "list rules", func() ([]nl.Rule, error) { return d.h.RuleList(nl.FAMILY_V4) })
	if err != nil {
		return err
	}
	haveRule := make(map[netstate.Rule]bool, len(raw))
	for _, r := range raw {
		if plainRule(r) {
			haveRule[ruleState(r)] = true
		}
	}
	routes, err := dump(d, "list routes", func() ([]nl.Route, error) {
		return d.h.RouteListFiltered(nl.FAMILY_V4, &nl.Route{Table: netstate.TableMain}, nl.RT_FILTER_TABLE)
	})
	if err != nil {
		return err
	}
	haveDst := make(map[netip.Prefix]bool, len(routes))
	for _, r := range routes {
		if r.Type == unix.RTN_UNICAST {
			haveDst[ipPrefix(r.Dst)] = true
		}
	}

	var errs []error
	for _, p := range pods {
		l, ok := byName[p.HostVeth]
		if !ok || l.Attrs().Flags&net.FlagUp == 0 {
			continue // mid-ADD or mid-DEL: the plugin finishes it
		}
		var addedRules []netstate.Rule
		var addedRoute *nl.Route
		for _, set := range netstate.PodRuleSets(p.Addr, p.RouteTable, true) {
			for _, w := range set.Want {
				if haveRule[w] {
					continue
				}
				if err := d.h.RuleAdd(ruleFromState(w)); err != nil && !isExist(err) {
					errs = append(errs, fmt.Errorf("add rule %q of pod veth %s: %w", w.String(), p.HostVeth, kernelErr(err)))
					continue
				}
				haveRule[w] = true
				addedRules = append(addedRules, w)
			}
		}
		hr := netstate.HostPodRoute(ports.PodSpec{Addr: p.Addr, HostVeth: p.HostVeth})
		if !haveDst[hr.Dst] { // another link's route to the address is not ours to replace
			r := routeFromState(hr, l.Attrs().Index)
			if err := d.h.RouteAdd(r); err != nil && !isExist(err) {
				errs = append(errs, fmt.Errorf("add route %q: %w", hr.String(), kernelErr(err)))
			} else {
				haveDst[hr.Dst] = true
				addedRoute = r
			}
		}
		if len(addedRules) == 0 && addedRoute == nil {
			continue
		}
		// The plugin's DEL deletes the veth and then the address's rules.
		// If the veth went while we were adding, that DEL may already have
		// looked at the rules: take ours back rather than leak them.
		if _, err := d.h.LinkByIndex(l.Attrs().Index); err != nil && isNotFound(err) {
			for _, w := range addedRules {
				if err := d.h.RuleDel(ruleFromState(w)); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("take back rule %q of deleted veth %s: %w", w.String(), p.HostVeth, kernelErr(err)))
				}
				delete(haveRule, w)
			}
			delete(haveDst, hr.Dst) // the route went with the link
			d.changed(slog.LevelDebug, "pod deleted during repair, nothing added", p.HostVeth)
			continue
		}
		for _, w := range addedRules {
			d.changed(slog.LevelInfo, "add rule", w.String())
		}
		if addedRoute != nil {
			d.changed(slog.LevelInfo, "add route", hr.String())
		}
	}
	return errors.Join(errs...)
}
