package ipamd

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// A secondary ENI whose link is missing at start (hot-attached a moment
// ago, moved into a pod by Multus host-device) does not stop ipamd: it is
// logged with its id and MAC, counted, kept from pods, and set up by a
// later repair pass once its link is there.
func TestStartupCarriesOnPastAFailedENI(t *testing.T) {
	n := newNode(t, "m5.large")
	eni := n.attachSecondary(t)
	var missing atomic.Bool
	missing.Store(true)
	d := n.start(t, func(o *Options) {
		o.DatapathInterval = 20 * time.Millisecond
		o.BeforeENISetup = func(e core.ENI) error {
			if e.ID == eni.ID && missing.Load() {
				return fmt.Errorf("find link with MAC %s: %w", e.MAC, core.ErrNotFound)
			}
			return nil
		}
	})
	if got := d.Service().DatapathPending(); !slices.Equal(got, []core.ENIID{eni.ID}) {
		t.Fatalf("ENIs awaiting setup %v, want [%s]", got, eni.ID)
	}
	if v := scrape(t, d)[`awscni_ipamd_error_count{fn="datapath"}`]; v == "" || v == "0" {
		t.Errorf("datapath errors = %q, want the failed ENI counted", v)
	}
	for _, v := range d.Service().ENIs() {
		if v.ID == eni.ID && !v.Excluded {
			t.Errorf("%s offered to pods although its datapath is not set up", eni.ID)
		}
	}
	b, err := os.ReadFile(filepath.Join(n.dir, "ipamd.log"))
	if err != nil {
		t.Fatal(err)
	}
	var logged bool
	for _, l := range strings.Split(string(b), "\n") {
		logged = logged || (strings.Contains(l, "setting up a secondary ENI failed") &&
			strings.Contains(l, string(eni.ID)) && strings.Contains(l, eni.MAC))
	}
	if !logged {
		t.Errorf("no log line names the failed ENI %s and its MAC %s:\n%s", eni.ID, eni.MAC, b)
	}

	missing.Store(false)
	waitFor(t, "a repair pass to set up the ENI", func() bool { return len(d.Service().DatapathPending()) == 0 })
	if got := render(t, n.host); !strings.Contains(got, "route default via 10.0.0.1 dev eth1 table 2") {
		t.Errorf("host datapath lacks the ENI's table:\n%s", got)
	}
	for _, v := range d.Service().ENIs() {
		if v.ID == eni.ID && v.Excluded {
			t.Errorf("%s still kept from pods after its setup succeeded", eni.ID)
		}
	}
}

// A CIDR block associated with the VPC while ipamd runs leaves SNAT at
// once (not at the next repair pass) and reaches the plugin's replies.
func TestVPCCIDRChangeReappliesFirewall(t *testing.T) {
	n := newNode(t, "m5.large")
	d := n.start(t, func(o *Options) { o.DatapathInterval = time.Hour })
	const rule = `-A AWS-SNAT-CHAIN-0 -d 100.64.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN`
	if strings.Contains(render(t, n.fw), rule) {
		t.Fatal("new block excluded from SNAT before it was associated")
	}
	if err := n.region.AddVPCCIDR("vpc-local", netip.MustParsePrefix("100.64.0.0/16")); err != nil {
		t.Fatal(err)
	}
	changed, err := d.Service().RefreshVPCCIDRs(tctx(t))
	if err != nil || !changed {
		t.Fatalf("RefreshVPCCIDRs = %v, %v; want a change", changed, err)
	}
	waitFor(t, "the new block to be excluded from SNAT", func() bool { return strings.Contains(render(t, n.fw), rule) })

	c := dial(t, d.Socket())
	r, err := c.cni.AddNetwork(tctx(t), addReq(1))
	if err != nil || !r.GetSuccess() {
		t.Fatalf("AddNetwork = %v, %v", r, err)
	}
	if got := r.GetVPCv4CIDRs(); !slices.Contains(got, "100.64.0.0/16") {
		t.Errorf("AddNetwork reply VPC CIDRs %v lack the new block", got)
	}
}
