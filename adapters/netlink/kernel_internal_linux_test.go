package netlink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/core"
)

func TestRetryDump(t *testing.T) {
	tests := []struct {
		name      string
		failures  int // interrupted results before a good one
		attempts  int
		wantCalls int
		wantErr   bool
	}{
		{"clean", 0, 5, 1, false},
		{"interrupted twice", 2, 5, 3, false},
		{"interrupted by EINTR", 1, 5, 2, false},
		{"always interrupted", 10, 3, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			got, err := retryDump(tt.attempts, "list things", func() ([]int, error) {
				calls++
				if calls <= tt.failures {
					if tt.name == "interrupted by EINTR" {
						return []int{-1}, unix.EINTR
					}
					return []int{-1}, nl.ErrDumpInterrupted
				}
				return []int{1, 2}, nil
			})
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			if tt.wantErr {
				if err == nil || got != nil {
					t.Fatalf("got %v, %v; want an error and no partial result", got, err)
				}
				return
			}
			if err != nil || len(got) != 2 {
				t.Fatalf("got %v, %v; want [1 2]", got, err)
			}
		})
	}
	_, err := retryDump(5, "list things", func() ([]int, error) { return nil, unix.EPERM })
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("other errors pass through unretried: %v", err)
	}
}

func TestKernelErr(t *testing.T) {
	tests := []struct {
		err  error
		want error
	}{
		{unix.ENOENT, core.ErrNotFound},
		{unix.ESRCH, core.ErrNotFound},
		{fmt.Errorf("wrapped: %w", nl.LinkNotFoundError{}), core.ErrNotFound},
		{unix.EEXIST, core.ErrDuplicate},
		{unix.EINVAL, core.ErrInvalidParameter},
	}
	for _, tt := range tests {
		got := kernelErr(tt.err)
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("kernelErr(%v) = %v, want %v wrapping the original", tt.err, got, tt.want)
		}
	}
	if kernelErr(nil) != nil {
		t.Error("kernelErr(nil) != nil")
	}
}

func TestRuleConversionRoundTrip(t *testing.T) {
	rules := []netstate.Rule{
		{Priority: 512, To: netip.MustParsePrefix("10.0.1.5/32"), Table: 254},
		{Priority: 1024, HasMark: true, Mark: 0x80, Mask: 0x80, Table: 254},
		{Priority: 1536, From: netip.MustParsePrefix("10.0.2.7/32"), Table: 10100},
	}
	for _, want := range rules {
		r := ruleFromState(want)
		// Simulate what the kernel echoes back: 4-byte addresses.
		if r.Src != nil {
			r.Src.IP = r.Src.IP.To4()
		}
		if r.Dst != nil {
			r.Dst.IP = net.IP(r.Dst.IP).To16() // 16-byte form must read back the same
		}
		if got := ruleState(*r); got != want {
			t.Errorf("round trip of %v = %v", want, got)
		}
		if !plainRule(*r) {
			t.Errorf("%v is not plain", want)
		}
	}
}

// hostIndex finds a link of the node's namespace (not the process's) by
// name, as a netlink lookup does, and reports a missing one as not found.
func TestHostIndex(t *testing.T) {
	needRoot(t)
	node, vpc := newTestNS(t, "node"), newTestNS(t, "vpc")
	node.addNIC(t, vpc, "ens9", "02:00:00:00:00:09", false)
	d := newDatapath(t, Config{Netns: node.path})
	want, err := node.h.LinkByName("ens9")
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.hostIndex("ens9")
	if err != nil || got != want.Attrs().Index {
		t.Fatalf("hostIndex(ens9) = %d, %v; want %d", got, err, want.Attrs().Index)
	}
	// vens9, ens9's peer, lives in the VPC namespace: not the node's.
	if _, err := d.hostIndex("vens9"); !errors.Is(kernelErr(err), core.ErrNotFound) {
		t.Fatalf("hostIndex of a link in another namespace = %v; want not found", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
