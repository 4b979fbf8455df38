package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

const (
	// DefaultPath is where upstream keeps the checkpoint
	// (AWS_VPC_K8S_CNI_BACKING_STORE).
	DefaultPath = "/var/run/aws-node/ipam.json"
	// Version is the only format version read and written.
	Version = "vpc-cni-ipam/1"
	// FileMode is the mode of the checkpoint file.
	FileMode fs.FileMode = 0o600
	// DirMode is the mode of a directory Save has to create.
	DirMode fs.FileMode = 0o755
	// StaleTempAge is how old a leftover temporary file must be before Load
	// removes it (younger ones may belong to a writer that is still busy).
	StaleTempAge = time.Minute
)

var _ ports.Checkpoint = (*File)(nil)

// Config configures a File.
type Config struct {
	// Path of the checkpoint file. Empty means DefaultPath.
	Path string
	// Now names damaged files and ages leftover temporary files. Empty
	// means time.Now.
	Now func() time.Time
}

// LoadReport describes the last Load.
type LoadReport struct {
	Path string
	// Found is false when there was no file (a fresh node).
	Found bool
	// Allocations and Cooldowns count the entries loaded.
	Allocations int
	Cooldowns   int
	// Skipped counts entries dropped because their address was unusable;
	// Problems has one line for each.
	Skipped  int
	Problems []string
	// MovedAside is where a damaged file was moved, if it was.
	MovedAside string
	// RemovedTemp counts stale temporary files removed.
	RemovedTemp int
}

// File is a checkpoint stored in one JSON file.
type File struct {
	path string
	now  func() time.Time

	mu   sync.Mutex
	last LoadReport
	// enc keeps the encoded form of each allocation written by the last
	// Save: a pod's entry never changes while it exists, so a Save
	// encodes only the allocations that are new since the previous one.
	enc entryCache
}

// New returns a File for cfg.Path. It touches nothing on disk.
func New(cfg Config) (*File, error) {
	p := cfg.Path
	if p == "" {
		p = DefaultPath
	}
	if strings.HasSuffix(p, string(filepath.Separator)) {
		return nil, fmt.Errorf("checkpoint path %q names a directory: %w", p, core.ErrInvalidParameter)
	}
	p = filepath.Clean(p)
	if base := filepath.Base(p); base == "." || base == ".." || base == string(filepath.Separator) {
		return nil, fmt.Errorf("checkpoint path %q has no file name: %w", cfg.Path, core.ErrInvalidParameter)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &File{path: p, now: now}, nil
}

// Path returns the checkpoint file's path.
func (f *File) Path() string { return f.path }

// LastLoadReport returns what the most recent Load found.
func (f *File) LastLoadReport() LoadReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.last
	r.Problems = append([]string(nil), r.Problems...)
	return r
}

// The on-disk shapes. Field order and names follow upstream's file.
type fileData struct {
	Version     string     `json:"version"`
	Allocations []entry    `json:"allocations"`
	Cooldowns   []cooldown `json:"cooldowns,omitempty"`
}

type entry struct {
	NetworkName         string   `json:"networkName"`
	ContainerID         string   `json:"containerID"`
	IfName              string   `json:"ifName"`
	IPv4                string   `json:"ipv4,omitempty"`
	IPv6                string   `json:"ipv6,omitempty"`
	AllocationTimestamp int64    `json:"allocationTimestamp"`
	Metadata            metadata `json:"metadata"`
}

type metadata struct {
	K8SPodNamespace string `json:"k8sPodNamespace,omitempty"`
	K8SPodName      string `json:"k8sPodName,omitempty"`
	InterfacesCount int    `json:"interfacesCount,omitempty"`
}

type cooldown struct {
	IPv4       string `json:"ipv4,omitempty"`
	IPv6       string `json:"ipv6,omitempty"`
	ReleasedAt int64  `json:"releasedAt"`
}

// Load reads the checkpoint. See the package documentation for what
// happens to a missing or damaged file.
func (f *File) Load(ctx context.Context) (core.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return core.Snapshot{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	rep := LoadReport{Path: f.path}
	rep.RemovedTemp = f.removeStaleTemp()
	defer func() { f.last = rep }()

	raw, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return core.Snapshot{}, nil
	}
	rep.Found = true
	if err != nil {
		return core.Snapshot{}, f.corrupt(&rep, "cannot read it", err)
	}
	var d fileData
	if err := json.Unmarshal(raw, &d); err != nil {
		return core.Snapshot{}, f.corrupt(&rep, "not valid JSON", err)
	}
	if d.Version != Version {
		return core.Snapshot{}, f.corrupt(&rep, fmt.Sprintf("version %q, want %q", d.Version, Version), nil)
	}

	var snap core.Snapshot
	for i, e := range d.Allocations {
		if e.IPv4 == "" && e.IPv6 == "" {
			rep.skip("allocation %d (container %s): no address", i, e.ContainerID)
			continue
		}
		for _, fam := range []struct {
			text string
			want core.Family
		}{{e.IPv4, core.IPv4}, {e.IPv6, core.IPv6}} {
			if fam.text == "" {
				continue
			}
			a, err := parseAddr(fam.text, fam.want)
			if err != nil {
				rep.skip("allocation %d (container %s): %v", i, e.ContainerID, err)
				continue
			}
			snap.Allocations = append(snap.Allocations, core.Allocation{
				Key:        core.PodKey{NetworkName: e.NetworkName, ContainerID: e.ContainerID, IfName: e.IfName},
				Pod:        core.PodRef{Namespace: e.Metadata.K8SPodNamespace, Name: e.Metadata.K8SPodName},
				Addr:       a,
				AssignedAt: fromNanos(e.AllocationTimestamp),
			})
		}
	}
	for i, c := range d.Cooldowns {
		if c.IPv4 == "" && c.IPv6 == "" {
			rep.skip("cooldown %d: no address", i)
			continue
		}
		for _, fam := range []struct {
			text string
			want core.Family
		}{{c.IPv4, core.IPv4}, {c.IPv6, core.IPv6}} {
			if fam.text == "" {
				continue
			}
			a, err := parseAddr(fam.text, fam.want)
			if err != nil {
				rep.skip("cooldown %d: %v", i, err)
				continue
			}
			snap.Cooldowns = append(snap.Cooldowns, core.Cooldown{Addr: a, ReleasedAt: fromNanos(c.ReleasedAt)})
		}
	}
	rep.Allocations, rep.Cooldowns = len(snap.Allocations), len(snap.Cooldowns)
	return snap, nil
}

func (r *LoadReport) skip(format string, args ...any) {
	r.Skipped++
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

func parseAddr(s string, fam core.Family) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("unparsable address %q", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	if fam == core.IPv4 {
		a = a.Unmap()
		if !a.Is4() {
			return netip.Addr{}, fmt.Errorf("%q in the ipv4 field is not an IPv4 address", s)
		}
		return a, nil
	}
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%q in the ipv6 field is not an IPv6 address", s)
	}
	return a, nil
}

// corrupt moves the damaged file aside and builds the error.
func (f *File) corrupt(rep *LoadReport, problem string, cause error) error {
	aside := f.path + ".corrupt-" + strconv.FormatInt(f.now().UnixNano(), 10)
	msg := fmt.Sprintf("checkpoint %s: %s", f.path, problem)
	if err := os.Rename(f.path, aside); err != nil {
		msg += fmt.Sprintf(" (could not move it aside: %v)", err)
	} else {
		rep.MovedAside = aside
		msg += " (kept as " + aside + ")"
	}
	if cause != nil {
		return fmt.Errorf("%s: %w: %w", msg, core.ErrCorruptCheckpoint, cause)
	}
	return fmt.Errorf("%s: %w", msg, core.ErrCorruptCheckpoint)
}

func (f *File) tempPattern() string { return filepath.Base(f.path) + ".tmp*" }

// removeStaleTemp deletes temporary files a crashed Save left behind. It is
// best effort: a file it cannot remove does no harm.
func (f *File) removeStaleTemp() int {
	dir := filepath.Dir(f.path)
	matches, err := filepath.Glob(filepath.Join(dir, globEscape(filepath.Base(f.path))+".tmp*"))
	if err != nil {
		return 0
	}
	cutoff := f.now().Add(-StaleTempAge)
	removed := 0
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.Mode().IsRegular() || fi.ModTime().After(cutoff) {
			continue
		}
		if os.Remove(m) == nil {
			removed++
		}
	}
	return removed
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Save writes s durably: temp file, fsync, rename, fsync of the directory.
func (f *File) Save(ctx context.Context, s core.Snapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	raw, err := f.enc.encode(s)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", f.path, err)
	}
	if err := f.write(raw); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", f.path, err)
	}
	return nil
}

func (f *File) write(raw []byte) error {
	dir := filepath.Dir(f.path)
	// CreateTemp makes the file with mode 0600 (FileMode), so no chmod is
	// needed; the directory is created only when it is missing.
	tmp, err := os.CreateTemp(dir, f.tempPattern())
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, DirMode); err != nil {
			return err
		}
		tmp, err = os.CreateTemp(dir, f.tempPattern())
	}
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(raw); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return err
	}
	done = true
	return syncDir(dir)
}

// syncDir makes the rename durable. Filesystems that cannot fsync a
// directory (EINVAL) are tolerated: there is nothing more we can do there.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// entryKey is everything an allocation's entry is made from.
type entryKey struct {
	key   core.PodKey
	pod   core.PodRef
	addr  netip.Addr
	nanos int64
}

// entryCache holds the encoded entries of the last Save (cur) and fills
// the next generation (next) while a Save runs; the two maps swap, so a
// steady node allocates nothing for entries it has written before.
type entryCache struct {
	cur, next map[entryKey][]byte
	buf       []byte
}

// encode renders s in the upstream layout, compact and newline terminated,
// byte for byte what encoding/json's Encoder writes for fileData (the
// tests compare the two).
func (c *entryCache) encode(s core.Snapshot) ([]byte, error) {
	if c.next == nil {
		c.next = make(map[entryKey][]byte, len(s.Allocations))
	}
	clear(c.next)
	b := append(c.buf[:0], `{"version":"`+Version+`","allocations":[`...)
	for i, a := range s.Allocations {
		k := entryKey{key: a.Key, pod: a.Pod, addr: a.Addr, nanos: toNanos(a.AssignedAt)}
		e, ok := c.cur[k]
		if !ok {
			var err error
			if e, err = encodeEntry(a); err != nil {
				return nil, err
			}
		}
		c.next[k] = e
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	b = append(b, ']')
	if len(s.Cooldowns) > 0 {
		b = append(b, `,"cooldowns":[`...)
		for i, cd := range s.Cooldowns {
			e, err := encodeCooldown(cd)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, e...)
		}
		b = append(b, ']')
	}
	b = append(b, "}\n"...)
	c.cur, c.next = c.next, c.cur
	c.buf = b
	return b, nil
}

func encodeEntry(a core.Allocation) ([]byte, error) {
	e := entry{
		NetworkName:         a.Key.NetworkName,
		ContainerID:         a.Key.ContainerID,
		IfName:              a.Key.IfName,
		AllocationTimestamp: toNanos(a.AssignedAt),
		Metadata: metadata{
			K8SPodNamespace: a.Pod.Namespace,
			K8SPodName:      a.Pod.Name,
			InterfacesCount: 1,
		},
	}
	var err error
	if e.IPv4, e.IPv6, err = addrFields(a.Addr); err != nil {
		return nil, fmt.Errorf("allocation of container %s: %w", a.Key.ContainerID, err)
	}
	return json.Marshal(e)
}

func encodeCooldown(c core.Cooldown) ([]byte, error) {
	cd := cooldown{ReleasedAt: toNanos(c.ReleasedAt)}
	var err error
	if cd.IPv4, cd.IPv6, err = addrFields(c.Addr); err != nil {
		return nil, fmt.Errorf("cooldown: %w", err)
	}
	return json.Marshal(cd)
}

func addrFields(a netip.Addr) (v4, v6 string, err error) {
	switch {
	case !a.IsValid():
		return "", "", fmt.Errorf("invalid address: %w", core.ErrInvalidParameter)
	case a.Zone() != "":
		return "", "", fmt.Errorf("address %s has a zone: %w", a, core.ErrInvalidParameter)
	case a.Unmap().Is4():
		return a.Unmap().String(), "", nil
	}
	return "", a.String(), nil
}

func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
