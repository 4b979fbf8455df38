package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// referenceEncode is the plain encoding/json rendering of a snapshot: what
// the incremental encoder must reproduce byte for byte.
func referenceEncode(t *testing.T, s core.Snapshot) []byte {
	t.Helper()
	d := fileData{Version: Version, Allocations: []entry{}}
	for _, a := range s.Allocations {
		e := entry{NetworkName: a.Key.NetworkName, ContainerID: a.Key.ContainerID, IfName: a.Key.IfName,
			AllocationTimestamp: toNanos(a.AssignedAt),
			Metadata:            metadata{K8SPodNamespace: a.Pod.Namespace, K8SPodName: a.Pod.Name, InterfacesCount: 1}}
		var err error
		if e.IPv4, e.IPv6, err = addrFields(a.Addr); err != nil {
			t.Fatal(err)
		}
		d.Allocations = append(d.Allocations, e)
	}
	for _, c := range s.Cooldowns {
		cd := cooldown{ReleasedAt: toNanos(c.ReleasedAt)}
		var err error
		if cd.IPv4, cd.IPv6, err = addrFields(c.Addr); err != nil {
			t.Fatal(err)
		}
		d.Cooldowns = append(d.Cooldowns, cd)
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestIncrementalEncodeMatchesJSON drives one encoder through a node's life
// (pods come and go, addresses are reused by other pods, cooldowns appear
// and expire, names need escaping) and compares every rendering with
// encoding/json's.
func TestIncrementalEncodeMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"web-0", "db<1>", "a&b", "ünïcode", `quote"d`, "tab\tname", ""}
	var c entryCache
	var live []core.Allocation
	var cools []core.Cooldown
	for step := 0; step < 400; step++ {
		switch r := rng.IntN(10); {
		case r < 5 || len(live) == 0:
			a := core.Allocation{
				Key:        core.PodKey{NetworkName: "aws-cni", ContainerID: fmt.Sprintf("c%d", rng.IntN(60)), IfName: "eth0"},
				Pod:        core.PodRef{Namespace: names[rng.IntN(len(names))], Name: names[rng.IntN(len(names))]},
				Addr:       netip.AddrFrom4([4]byte{10, 0, 1, byte(rng.IntN(40))}),
				AssignedAt: time.Unix(0, int64(step+1)*1_000_000_007).UTC(),
			}
			if rng.IntN(8) == 0 {
				a.Addr = netip.MustParseAddr(fmt.Sprintf("2600:1f14::%x", rng.IntN(40)))
			}
			if rng.IntN(10) == 0 {
				a.AssignedAt = time.Time{}
			}
			live = append(live, a)
		case r < 8:
			i := rng.IntN(len(live))
			cools = append(cools, core.Cooldown{Addr: live[i].Addr, ReleasedAt: time.Unix(0, int64(step)*999).UTC()})
			live = append(live[:i], live[i+1:]...)
		default:
			if len(cools) > 0 {
				cools = cools[1:]
			}
		}
		s := core.Snapshot{Allocations: live, Cooldowns: cools}
		got, err := c.encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceEncode(t, s); !bytes.Equal(got, want) {
			t.Fatalf("step %d: incremental encoding differs from encoding/json:\n got %s\nwant %s", step, got, want)
		}
		if len(c.cur) > len(live) {
			t.Fatalf("step %d: %d cached entries for %d allocations: the cache keeps entries of released pods", step, len(c.cur), len(live))
		}
	}
}

func TestEncodeRejectsInvalidAddress(t *testing.T) {
	var c entryCache
	_, err := c.encode(core.Snapshot{Allocations: []core.Allocation{{Key: core.PodKey{ContainerID: "x"}}}})
	if err == nil {
		t.Fatal("an allocation without an address was encoded")
	}
	_, err = c.encode(core.Snapshot{Cooldowns: []core.Cooldown{{}}})
	if err == nil {
		t.Fatal("a cooldown without an address was encoded")
	}
}

// TestSaveCreatesMissingDirectory: the directory is made on demand, once.
func TestSaveCreatesMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "ipam.json")
	f := newFile(t, path)
	if err := f.Save(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), FileMode)
	}
}

// BenchmarkSave250 is one checkpoint write on a node with 250 pods where
// one pod changed since the last write: what every CNI ADD and DEL costs
// ipamd before it answers.
func BenchmarkSave250(b *testing.B) {
	f, err := New(Config{Path: filepath.Join(b.TempDir(), "ipam.json")})
	if err != nil {
		b.Fatal(err)
	}
	s := snapshot250()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Allocations[i%250].AssignedAt = time.Unix(1795275762, int64(i)).UTC()
		if err := f.Save(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode250 is the encoding alone, incremental, next to
// BenchmarkEncode250Reference (encoding/json over the whole snapshot).
func BenchmarkEncode250(b *testing.B) {
	s := snapshot250()
	var c entryCache
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Allocations[i%250].AssignedAt = time.Unix(1795275762, int64(i)).UTC()
		if _, err := c.encode(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode250Reference(b *testing.B) {
	s := snapshot250()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Allocations[i%250].AssignedAt = time.Unix(1795275762, int64(i)).UTC()
		var c entryCache // a fresh cache encodes every entry, as encoding/json does
		if _, err := c.encode(s); err != nil {
			b.Fatal(err)
		}
	}
}

func snapshot250() core.Snapshot {
	var s core.Snapshot
	for i := 0; i < 250; i++ {
		s.Allocations = append(s.Allocations, core.Allocation{
			Key:        core.PodKey{NetworkName: "aws-cni", ContainerID: fmt.Sprintf("%064x", i), IfName: "eth0"},
			Pod:        core.PodRef{Namespace: "default", Name: fmt.Sprintf("pod-%d", i)},
			Addr:       netip.AddrFrom4([4]byte{10, 0, byte(i / 200), byte(i%200 + 1)}),
			AssignedAt: time.Unix(1795275761, int64(i)).UTC(),
		})
	}
	return s
}
