package nodeipam_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// fullT3Small fills a t3.small (3 ENIs of 3 addresses) with pods 0..8.
func fullT3Small(t *testing.T, cfg nodeipam.Config) (*node, *nodeipam.Service) {
	t.Helper()
	n := newNode(t, "t3.small", "10.0.0.0/24")
	svc := n.service(cfg)
	for i := 0; i < 9; i++ {
		n.converge(svc)
		if _, err := svc.TryAssign(context.Background(), req(i)); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	n.converge(svc)
	return n, svc
}

// An ADD that finds no free address while nothing can add or free one
// (the pool cannot grow, nothing cools down, no ENI is being set up)
// fails at once with the error the bounded wait ends with, saying why,
// instead of holding the pod for Config.AddWait.
func TestAddFailsAtOnceWhenPoolCannotGrow(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (*node, *nodeipam.Service)
		why   string
		// metadataPass: the ADD gives up only after one pass has read
		// instance metadata, which the test runs once the ADD waits.
		metadataPass bool
	}{{
		name: "ENI limit reached",
		setup: func(t *testing.T) (*node, *nodeipam.Service) {
			cfg := nodeipam.Defaults() // AddWait 10s
			return fullT3Small(t, cfg)
		},
		why: "ENI limit reached",
	}, {
		name: "provisioning disabled",
		setup: func(t *testing.T) (*node, *nodeipam.Service) {
			return unprovisionedFull(t, nodeipam.Defaults().AddWait)
		},
		why:          "provisioning disabled",
		metadataPass: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, svc := tt.setup(t)
			before := n.clock.Now()
			if tt.metadataPass {
				returned := make(chan struct{})
				defer close(returned)
				go func() {
					for svc.Waiting() == 0 {
						select {
						case <-returned:
							return
						case <-time.After(time.Millisecond):
						}
					}
					_, _ = svc.Step(context.Background())
				}()
			}
			_, err := svc.Assign(context.Background(), req(99))
			if !errors.Is(err, core.ErrNoAvailableAddress) {
				t.Fatalf("ADD on a pool that cannot grow: %v, want ErrNoAvailableAddress", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "the pool cannot grow: ") || !strings.Contains(msg, tt.why) || strings.Contains(msg, "waited") {
				t.Fatalf("ADD failed with %q, want at once with the reason %q", msg, tt.why)
			}
			if now := n.clock.Now(); !now.Equal(before) {
				t.Fatalf("the service clock moved %s during an ADD that had nothing to wait for", now.Sub(before))
			}
		})
	}
}

// An ADD on a full node while an address cools down waits for the
// cooldown to end (on the service clock) and gets that address.
func TestAddWaitsForCooldownOnFullNode(t *testing.T) {
	cfg := nodeipam.Defaults()
	cfg.Cooldown = 30 * time.Second
	n, svc := fullT3Small(t, cfg)
	ctx := context.Background()
	freed, err := svc.Release(ctx, key(0))
	must(t, err)
	released := n.clock.Now()
	a, err := svc.Assign(ctx, req(99))
	if err != nil {
		t.Fatalf("ADD while %s cools down: %v, want the address once its cooldown ends", freed.Addr, err)
	}
	if a.Addr != freed.Addr {
		t.Fatalf("ADD got %s, want %s (the only address, once cooled down)", a.Addr, freed.Addr)
	}
	if waited := n.clock.Now().Sub(released); waited < cfg.Cooldown {
		t.Fatalf("ADD got %s after %s, before its cooldown of %s ended", a.Addr, waited, cfg.Cooldown)
	}
}

// An ADD on a full node whose last ENI awaits its datapath setup, within
// the setup window, is capacity about to come: it waits rather than
// failing at once, even when provisioning is disabled.
func TestAddWaitsForENIBeingSetUp(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		t.Run(fmt.Sprintf("provisioning disabled=%v", disabled), func(t *testing.T) {
			n := newNode(t, "t3.small", "10.0.0.0/24")
			eni, err := n.cloud.AddENI(memory.ENISpec{Instance: n.inst.ID, Device: 1,
				CreateENIRequest: ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 2}})
			must(t, err)
			n.clock.Advance(time.Minute) // past the metadata lag
			cfg := nodeipam.Defaults()
			cfg.AddWait = 20 * time.Millisecond // long enough to tell a wait from failing at once
			cfg.MaxENI = 2                      // the pool cannot attach another ENI
			cfg.DisableProvisioning = disabled
			svc := n.service(cfg)
			ctx := context.Background()
			svc.DatapathFailed(eni.ID)
			for i := 0; i < 9; i++ {
				_, _ = svc.Step(ctx)
				if _, err := svc.TryAssign(ctx, req(i)); errors.Is(err, core.ErrNoAvailableAddress) {
					break
				}
			}
			_, err = svc.Assign(ctx, req(99))
			if !errors.Is(err, core.ErrNoAvailableAddress) || !strings.Contains(err.Error(), "waited") {
				t.Fatalf("ADD while %s is being set up: %v, want a wait that times out", eni.ID, err)
			}
			svc.DatapathReady(eni.ID)
			a, err := svc.Assign(ctx, req(99))
			must(t, err)
			if a.ENI != eni.ID {
				t.Fatalf("ADD got %s on %s, want an address of %s", a.Addr, a.ENI, eni.ID)
			}
		})
	}
}

// An ENI attached in the last free slot and not yet set up is capacity
// about to come, although the slot looks taken: an ADD arriving then
// waits rather than failing at once.
func TestAddWaitsForENIBeingAttached(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	cfg := nodeipam.Defaults()
	cfg.Targets = warmpool.Targets{WarmIP: 1} // grow only when nothing is free
	cfg.AddWait = 20 * time.Millisecond       // long enough to tell a wait from failing at once
	ctx := context.Background()
	var (
		svc    *nodeipam.Service
		hooked bool
		addErr error
	)
	svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: n.cloud, Metadata: n.cloud.Metadata(n.inst.ID), Clock: n.clock,
		Checkpoint: n.ckpt, OnENIReady: func(e core.ENI) error {
			if e.DeviceNumber == 2 { // the last slot: every address is taken now
				hooked = true
				_, addErr = svc.Assign(ctx, req(99))
			}
			return nil
		}})
	must(t, err)
	_, err = svc.Init(ctx)
	must(t, err)
	for i := 0; !hooked && i < 100; i++ {
		if _, err := svc.TryAssign(ctx, req(i)); err != nil {
			_, _ = svc.Step(ctx)
			n.clock.Advance(5 * time.Second)
			i--
		}
	}
	if !hooked {
		t.Fatalf("the pool never attached an ENI at device 2 (%v)", n.cloudShape())
	}
	if !errors.Is(addErr, core.ErrNoAvailableAddress) || !strings.Contains(addErr.Error(), "waited") {
		t.Fatalf("ADD while the last ENI is being set up: %v, want a wait that times out", addErr)
	}
}

// Without a cooldown, an address a DEL frees goes to an ADD that is
// waiting for the pool to grow, at once.
func TestReleaseWakesWaitingAdd(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24") // room to grow: the ADD waits
	cfg := nodeipam.Defaults()
	cfg.Cooldown = 0
	cfg.AddWait = time.Minute // no pass runs: only the release can end the wait in time
	svc := n.service(cfg)
	n.converge(svc)
	fill(t, svc)
	done := waitingAssign(t, svc)
	freed, err := svc.Release(context.Background(), key(0))
	must(t, err)
	r := assignResult(t, done)
	if r.err != nil || r.a.Addr != freed.Addr {
		t.Fatalf("waiting ADD after %s was released: %v %v, want that address", freed.Addr, r.a.Addr, r.err)
	}
}

// With provisioning disabled, addresses are assigned to the node from
// outside and ipamd learns of them from instance metadata: a waiting ADD
// gives up only after a pass has read metadata, and one assigned
// meanwhile goes to it.
func TestAddWithProvisioningDisabledWaitsForMetadata(t *testing.T) {
	n, svc := unprovisionedFull(t, time.Minute) // no pass runs but the test's
	done := waitingAssign(t, svc)
	if _, err := n.cloud.AssignOutOfBand(n.inst.PrimaryENI, 1, 0); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute) // metadata shows it now
	_, _ = svc.Step(context.Background())
	if r := assignResult(t, done); r.err != nil {
		t.Fatalf("ADD waiting while an address was assigned out of band: %v, want that address", r.err)
	}
}

// unprovisionedFull is a node with provisioning disabled and two addresses
// assigned out of band, both given to pods.
func unprovisionedFull(t *testing.T, addWait time.Duration) (*node, *nodeipam.Service) {
	t.Helper()
	n := newNode(t, "m5.large", "10.0.0.0/24")
	if _, err := n.cloud.AssignOutOfBand(n.inst.PrimaryENI, 2, 0); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute) // past the metadata lag
	cfg := nodeipam.Defaults()
	cfg.DisableProvisioning = true
	cfg.AddWait = addWait
	svc := n.service(cfg)
	fill(t, svc)
	return n, svc
}

// fill assigns addresses to pods 0, 1, ... until none is free.
func fill(t *testing.T, svc *nodeipam.Service) {
	t.Helper()
	for i := 0; ; i++ {
		_, err := svc.TryAssign(context.Background(), req(i))
		if errors.Is(err, core.ErrNoAvailableAddress) {
			return
		}
		must(t, err)
	}
}

type assigned struct {
	a   datastore.Assignment
	err error
}

// waitingAssign starts an ADD of pod 99 and returns once it waits for an
// address; it fails the test if the ADD returned without waiting.
func waitingAssign(t *testing.T, svc *nodeipam.Service) <-chan assigned {
	t.Helper()
	done := make(chan assigned, 1)
	go func() {
		a, err := svc.Assign(context.Background(), req(99))
		done <- assigned{a, err}
	}()
	for svc.Waiting() == 0 {
		select {
		case r := <-done:
			t.Fatalf("the ADD returned without waiting: %v %v", r.a.Addr, r.err)
		case <-time.After(time.Millisecond):
		}
	}
	return done
}

// assignResult is the result of a waiting ADD; it fails the test if the ADD
// is still waiting after 30 s.
func assignResult(t *testing.T, done <-chan assigned) assigned {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting ADD did not end")
		return assigned{}
	}
}
