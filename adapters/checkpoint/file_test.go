package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

var update = flag.Bool("update", false, "rewrite testdata/ours.json")

var fixedNow = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

func newFile(t *testing.T, path string) *File {
	t.Helper()
	f, err := New(Config{Path: path, Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("New(%q): %v", path, err)
	}
	return f
}

func alloc(cid, ns, name, addr string, at int64) core.Allocation {
	var t time.Time
	if at != 0 {
		t = time.Unix(0, at).UTC()
	}
	return core.Allocation{
		Key:        core.PodKey{NetworkName: "aws-cni", ContainerID: cid, IfName: "eth0"},
		Pod:        core.PodRef{Namespace: ns, Name: name},
		Addr:       netip.MustParseAddr(addr),
		AssignedAt: t,
	}
}

func cool(addr string, at int64) core.Cooldown {
	return core.Cooldown{Addr: netip.MustParseAddr(addr), ReleasedAt: time.Unix(0, at).UTC()}
}

// sample is the snapshot behind testdata/ours.json.
func sample() core.Snapshot {
	return core.Snapshot{
		Allocations: []core.Allocation{
			alloc("cid-pod2", "default", "pod2", "10.0.1.2", 1795275761267089447),
			alloc("c0ffee", "kube-system", "coredns-0", "10.0.1.18", 1795275762000000000),
			alloc("dual", "web", "frontend-0", "10.0.1.19", 1795275763000000000),
			alloc("dual", "web", "frontend-0", "2600:1f14:abc:de01::5", 1795275763000000000),
			alloc("legacy", "", "", "10.0.1.20", 0),
		},
		Cooldowns: []core.Cooldown{
			cool("10.0.1.3", 1795275790000000000),
			cool("2600:1f14:abc:de01::6", 1795275791000000000),
		},
	}
}

func equalSnapshots(a, b core.Snapshot) bool {
	return slices.EqualFunc(a.Allocations, b.Allocations, func(x, y core.Allocation) bool {
		return x.Key == y.Key && x.Pod == y.Pod && x.Addr == y.Addr && x.AssignedAt.Equal(y.AssignedAt)
	}) && slices.EqualFunc(a.Cooldowns, b.Cooldowns, func(x, y core.Cooldown) bool {
		return x.Addr == y.Addr && x.ReleasedAt.Equal(y.ReleasedAt)
	})
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for name, snap := range map[string]core.Snapshot{
		"sample":            sample(),
		"empty":             {},
		"only cooldowns":    {Cooldowns: []core.Cooldown{cool("10.0.0.9", 1)}},
		"single allocation": {Allocations: []core.Allocation{alloc("m", "ns", "p", "10.9.8.7", 5)}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFile(t, filepath.Join(t.TempDir(), "ipam.json"))
			if err := f.Save(ctx, snap); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := f.Load(ctx)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !equalSnapshots(got, snap) {
				t.Fatalf("round trip\n got: %+v\nwant: %+v", got, snap)
			}
			rep := f.LastLoadReport()
			if !rep.Found || rep.Allocations != len(snap.Allocations) || rep.Cooldowns != len(snap.Cooldowns) || rep.Skipped != 0 {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

func TestSaveUnmapsIPv4InIPv6(t *testing.T) {
	f := newFile(t, filepath.Join(t.TempDir(), "ipam.json"))
	a := alloc("m", "ns", "p", "::ffff:10.9.8.7", 5)
	if err := f.Save(context.Background(), core.Snapshot{Allocations: []core.Allocation{a}}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(f.Path())
	if !strings.Contains(string(raw), `"ipv4":"10.9.8.7"`) {
		t.Errorf("mapped address not written as plain IPv4: %s", raw)
	}
}

// TestUpstreamGolden loads a checkpoint in the shape upstream writes (no
// cooldowns) and checks that saving it back gives the very same bytes.
func TestUpstreamGolden(t *testing.T) {
	golden, err := os.ReadFile("testdata/upstream.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ipam.json")
	if err := os.WriteFile(path, golden, 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, path)
	got, err := f.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := core.Snapshot{Allocations: []core.Allocation{
		alloc("cid-pod2", "default", "pod2", "10.0.1.2", 1795275761267089447),
		alloc("3f1c0a9e7b2d", "kube-system", "coredns-5d78c9869d-x2j4k", "10.0.2.37", 1795275770000000001),
		alloc("9a8b7c6d5e4f", "web", "frontend-0", "2600:1f14:abc:de01::5", 1795275780123456789),
	}}
	if !equalSnapshots(got, want) {
		t.Fatalf("loaded\n got: %+v\nwant: %+v", got, want)
	}
	if err := f.Save(context.Background(), got); err != nil {
		t.Fatalf("Save: %v", err)
	}
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(golden) {
		t.Errorf("rewrite differs from upstream's file\n got: %s\nwant: %s", again, golden)
	}
}

// TestUpstreamSample parses the exact entry documented for upstream.
func TestUpstreamSample(t *testing.T) {
	const doc = `{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-cni","containerID":"cid-pod2","ifName":"eth0","ipv4":"10.0.1.2",
  "allocationTimestamp":1795275761267089447,"metadata":{"k8sPodNamespace":"default","k8sPodName":"pod2","interfacesCount":1}}]}`
	path := filepath.Join(t.TempDir(), "ipam.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := newFile(t, path).Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := core.Snapshot{Allocations: []core.Allocation{alloc("cid-pod2", "default", "pod2", "10.0.1.2", 1795275761267089447)}}
	if !equalSnapshots(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if ts := got.Allocations[0].AssignedAt; ts.UnixNano() != 1795275761267089447 {
		t.Errorf("timestamp lost precision: %d", ts.UnixNano())
	}
}

// TestWriteGolden pins the bytes we write, cooldown extension included.
func TestWriteGolden(t *testing.T) {
	f := newFile(t, filepath.Join(t.TempDir(), "ipam.json"))
	if err := f.Save(context.Background(), sample()); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/ours.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/ours.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("written file differs from testdata/ours.json\n got: %s\nwant: %s", got, want)
	}
}

// TestUpstreamReadsOurs decodes our file the way upstream does: into a
// structure that knows only upstream's fields, with unknown fields
// ignored. Every allocation must come through, one address per entry.
func TestUpstreamReadsOurs(t *testing.T) {
	raw, err := os.ReadFile("testdata/ours.json")
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		Version     string `json:"version"`
		Allocations []struct {
			NetworkName, ContainerID, IfName string
			IPv4                             string `json:"ipv4"`
			IPv6                             string `json:"ipv6"`
			AllocationTimestamp              int64  `json:"allocationTimestamp"`
			Metadata                         struct {
				K8SPodNamespace string `json:"k8sPodNamespace"`
				K8SPodName      string `json:"k8sPodName"`
				InterfacesCount int    `json:"interfacesCount"`
			} `json:"metadata"`
		} `json:"allocations"`
	}
	if err := json.Unmarshal(raw, &up); err != nil {
		t.Fatal(err)
	}
	if up.Version != "vpc-cni-ipam/1" {
		t.Errorf("version %q", up.Version)
	}
	want := sample().Allocations
	if len(up.Allocations) != len(want) {
		t.Fatalf("%d allocations, want %d", len(up.Allocations), len(want))
	}
	for i, a := range up.Allocations {
		addr := a.IPv4 + a.IPv6
		if (a.IPv4 == "") == (a.IPv6 == "") || addr != want[i].Addr.String() {
			t.Errorf("entry %d: ipv4 %q ipv6 %q, want exactly %s", i, a.IPv4, a.IPv6, want[i].Addr)
		}
		if a.ContainerID != want[i].Key.ContainerID || a.Metadata.K8SPodName != want[i].Pod.Name || a.Metadata.InterfacesCount != 1 {
			t.Errorf("entry %d: %+v", i, a)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	for name, path := range map[string]string{
		"no file":      filepath.Join(t.TempDir(), "ipam.json"),
		"no directory": filepath.Join(t.TempDir(), "not", "there", "ipam.json"),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFile(t, path)
			got, err := f.Load(context.Background())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(got.Allocations) != 0 || len(got.Cooldowns) != 0 {
				t.Errorf("got %+v, want empty", got)
			}
			if rep := f.LastLoadReport(); rep.Found || rep.Path != path {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

func TestLoadCorrupt(t *testing.T) {
	tests := []struct {
		name    string
		content string
		problem string
	}{
		{"truncated", `{"version":"vpc-cni-ipam/1","allocations":[{"networkName":"aws-`, "not valid JSON"},
		{"empty file", ``, "not valid JSON"},
		{"garbage", "\x00\x01binary", "not valid JSON"},
		{"trailing data", `{"version":"vpc-cni-ipam/1","allocations":[]} {}`, "not valid JSON"},
		{"allocations of the wrong type", `{"version":"vpc-cni-ipam/1","allocations":{}}`, "not valid JSON"},
		{"wrong version", `{"version":"vpc-cni-ipam/2","allocations":[]}`, `version "vpc-cni-ipam/2"`},
		{"missing version", `{"allocations":[]}`, `version ""`},
		{"null document", `null`, `version ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ipam.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f := newFile(t, path)
			got, err := f.Load(context.Background())
			if !errors.Is(err, core.ErrCorruptCheckpoint) {
				t.Fatalf("Load error %v, want ErrCorruptCheckpoint", err)
			}
			aside := path + ".corrupt-" + "1772353800000000000"
			for _, part := range []string{path, tt.problem, aside} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not mention %q", err, part)
				}
			}
			if len(got.Allocations) != 0 {
				t.Errorf("corrupt file yielded allocations: %+v", got)
			}
			kept, rerr := os.ReadFile(aside)
			if rerr != nil || string(kept) != tt.content {
				t.Errorf("damaged file not kept intact at %s: %v %q", aside, rerr, kept)
			}
			if rep := f.LastLoadReport(); rep.MovedAside != aside || !rep.Found {
				t.Errorf("report %+v", rep)
			}
			// The node goes on: the next Load sees a fresh node, Save works.
			if _, err := f.Load(context.Background()); err != nil {
				t.Errorf("Load after moving aside: %v", err)
			}
			if err := f.Save(context.Background(), sample()); err != nil {
				t.Errorf("Save after corruption: %v", err)
			}
			if _, err := os.Stat(aside); err != nil {
				t.Errorf("Save removed the damaged copy: %v", err)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	// A directory where the file should be cannot be read, even as root.
	dir := t.TempDir()
	path := filepath.Join(dir, "ipam.json")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, path)
	_, err := f.Load(context.Background())
	if !errors.Is(err, core.ErrCorruptCheckpoint) || !strings.Contains(err.Error(), "cannot read") {
		t.Fatalf("Load error %v, want ErrCorruptCheckpoint (cannot read)", err)
	}
	if fi, err := os.Stat(f.LastLoadReport().MovedAside); err != nil || !fi.IsDir() {
		t.Errorf("unreadable entry not moved aside: %v", err)
	}
}

func TestLoadSkipsBadEntries(t *testing.T) {
	const doc = `{"version":"vpc-cni-ipam/1","allocations":[
 {"networkName":"aws-cni","containerID":"good4","ifName":"eth0","ipv4":"10.0.0.5","allocationTimestamp":7,"metadata":{"k8sPodNamespace":"a","k8sPodName":"b","interfacesCount":1}},
 {"networkName":"aws-cni","containerID":"bad","ifName":"eth0","ipv4":"10.0.0.300","allocationTimestamp":7,"metadata":{}},
 {"networkName":"aws-cni","containerID":"v6inv4","ifName":"eth0","ipv4":"2600::1","allocationTimestamp":7,"metadata":{}},
 {"networkName":"aws-cni","containerID":"v4inv6","ifName":"eth0","ipv6":"10.0.0.6","allocationTimestamp":7,"metadata":{}},
 {"networkName":"aws-cni","containerID":"none","ifName":"eth0","allocationTimestamp":7,"metadata":{}},
 {"networkName":"aws-cni","containerID":"zone","ifName":"eth0","ipv6":"fe80::1%eth0","allocationTimestamp":7,"metadata":{}},
 {"networkName":"aws-cni","containerID":"both","ifName":"eth0","ipv4":"10.0.0.7","ipv6":"2600::7","allocationTimestamp":7,"metadata":{},"futureField":true}
],"cooldowns":[{"ipv4":"10.0.0.8","releasedAt":9},{"ipv4":"nope","releasedAt":9},{"releasedAt":9}],"somethingNew":{}}`
	path := filepath.Join(t.TempDir(), "ipam.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFile(t, path)
	got, err := f.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var cids []string
	for _, a := range got.Allocations {
		cids = append(cids, a.Key.ContainerID+"="+a.Addr.String())
	}
	if want := []string{"good4=10.0.0.5", "both=10.0.0.7", "both=2600::7"}; !slices.Equal(cids, want) {
		t.Errorf("allocations %v, want %v", cids, want)
	}
	if len(got.Cooldowns) != 1 || got.Cooldowns[0].Addr != netip.MustParseAddr("10.0.0.8") {
		t.Errorf("cooldowns %+v", got.Cooldowns)
	}
	rep := f.LastLoadReport()
	if rep.Skipped != 7 || len(rep.Problems) != 7 || rep.Allocations != 3 || rep.Cooldowns != 1 {
		t.Errorf("report %+v", rep)
	}
	for _, cid := range []string{"bad", "v6inv4", "v4inv6", "none", "zone"} {
		if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "container "+cid+")") }) {
			t.Errorf("no problem reported for %s: %q", cid, rep.Problems)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a file with some bad entries must stay in place: %v", err)
	}
}

func TestSaveDurableLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "aws-node")
	path := filepath.Join(dir, "ipam.json")
	f := newFile(t, path)
	ctx := context.Background()
	if err := f.Save(ctx, sample()); err != nil {
		t.Fatalf("Save into a missing directory: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != FileMode {
		t.Errorf("file mode %v, want %v", fi.Mode().Perm(), FileMode)
	}
	if di, err := os.Stat(dir); err != nil || !di.IsDir() || di.Mode().Perm()&0o700 != 0o700 {
		t.Errorf("directory not created usable: %v %v", di, err)
	}
	second := core.Snapshot{Allocations: sample().Allocations[:1]}
	if err := f.Save(ctx, second); err != nil {
		t.Fatal(err)
	}
	got, err := f.Load(ctx)
	if err != nil || !equalSnapshots(got, second) {
		t.Errorf("after second Save: %+v %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only ipam.json", names)
	}
}

func TestSaveFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("invalid address keeps the old file", func(t *testing.T) {
		f := newFile(t, filepath.Join(t.TempDir(), "ipam.json"))
		if err := f.Save(ctx, sample()); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(f.Path())
		bad := core.Snapshot{Allocations: []core.Allocation{{Key: core.PodKey{ContainerID: "x"}}}}
		if err := f.Save(ctx, bad); !errors.Is(err, core.ErrInvalidParameter) {
			t.Fatalf("Save error %v, want ErrInvalidParameter", err)
		}
		badCool := core.Snapshot{Cooldowns: []core.Cooldown{{}}}
		if err := f.Save(ctx, badCool); !errors.Is(err, core.ErrInvalidParameter) {
			t.Fatalf("Save error %v, want ErrInvalidParameter", err)
		}
		after, _ := os.ReadFile(f.Path())
		if string(before) != string(after) {
			t.Errorf("failed Save changed the file")
		}
	})
	t.Run("parent is a file", func(t *testing.T) {
		blocker := filepath.Join(t.TempDir(), "blocker")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f := newFile(t, filepath.Join(blocker, "ipam.json"))
		if err := f.Save(ctx, sample()); err == nil || !strings.Contains(err.Error(), f.Path()) {
			t.Fatalf("Save error %v, want one naming the path", err)
		}
	})
	t.Run("target is a directory: temp file cleaned up", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "ipam.json")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(path, "x"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		f := newFile(t, path)
		if err := f.Save(ctx, sample()); err == nil {
			t.Fatal("Save over a non-empty directory succeeded")
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "ipam.json.tmp*")); len(m) != 0 {
			t.Errorf("temp files left: %v", m)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		f := newFile(t, filepath.Join(t.TempDir(), "ipam.json"))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := f.Save(cctx, sample()); !errors.Is(err, context.Canceled) {
			t.Errorf("Save: %v", err)
		}
		if _, err := f.Load(cctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Load: %v", err)
		}
		if _, err := os.Stat(f.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cancelled Save wrote the file: %v", err)
		}
	})
}

// TestCrashLeftovers simulates a crash in the middle of Save: a half
// written temporary file next to a good checkpoint.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ipam.json")
	f := newFile(t, path)
	ctx := context.Background()
	if err := f.Save(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "ipam.json.tmp123456")
	fresh := filepath.Join(dir, "ipam.json.tmp999999")
	other := filepath.Join(dir, "ipam-nic-1.json.tmp42")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, []byte(`{"version":"vpc-cni-ipam/1","allocati`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := fixedNow.Add(-2 * StaleTempAge)
	for _, p := range []string{stale, other} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(fresh, fixedNow, fixedNow); err != nil {
		t.Fatal(err)
	}

	got, err := f.Load(ctx)
	if err != nil {
		t.Fatalf("Load with leftovers: %v", err)
	}
	if !equalSnapshots(got, sample()) {
		t.Errorf("loaded %+v", got)
	}
	if rep := f.LastLoadReport(); rep.RemovedTemp != 1 {
		t.Errorf("removed %d temp files, want 1", rep.RemovedTemp)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file kept: %v", err)
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}

	// A crash before the first rename: only a temp file, no checkpoint.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "ipam.json.tmp1"), []byte(`{"ver`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = newFile(t, filepath.Join(dir2, "ipam.json")).Load(ctx)
	if err != nil || len(got.Allocations) != 0 {
		t.Errorf("fresh node with a leftover temp: %+v %v", got, err)
	}
}

func TestNew(t *testing.T) {
	f, err := New(Config{})
	if err != nil || f.Path() != DefaultPath {
		t.Errorf("default: %v %v", f, err)
	}
	if f, err := New(Config{Path: "/tmp//x/../ipam.json"}); err != nil || f.Path() != "/tmp/ipam.json" {
		t.Errorf("cleaned path: %v %v", f, err)
	}
	for _, p := range []string{"/var/run/aws-node/", "/", ".", ".."} {
		if _, err := New(Config{Path: p}); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("New(%q) error %v, want ErrInvalidParameter", p, err)
		}
	}
}
