//go:build linux

package iptables

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	goipt "github.com/coreos/go-iptables/iptables"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/nsexec"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Firewall programs the SNAT and connmark rules with one iptables binary.
// It is safe for concurrent use; calls are serialised.
type Firewall struct {
	cfg Config
	ipt *goipt.IPTables

	mu sync.Mutex
	// randomFully is whether --random-fully may be used: the binary is new
	// enough and the kernel has not refused it yet.
	randomFully bool
}

// New checks the binaries and returns the backend. It changes nothing.
func New(cfg Config) (*Firewall, error) {
	cfg = cfg.withDefaults()
	if cfg.Mode != Legacy && cfg.Mode != NFT {
		return nil, fmt.Errorf("create iptables backend: unknown mode %q: %w", cfg.Mode, core.ErrInvalidParameter)
	}
	var err error
	if cfg.Path == "" {
		if cfg.Path, err = LookBinary(string(cfg.Mode)); err != nil {
			return nil, fmt.Errorf("create %s backend: %w", cfg.Mode, err)
		}
	}
	if cfg.SavePath == "" {
		if cfg.SavePath, err = LookBinary(string(cfg.Mode) + "-save"); err != nil {
			return nil, fmt.Errorf("create %s backend: %w", cfg.Mode, err)
		}
	}
	out, err := exec.Command(cfg.Path, "--version").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("create %s backend: run %s --version: %w: %s", cfg.Mode, cfg.Path, err, bytes.TrimSpace(out))
	}
	want := map[Mode]string{Legacy: "(legacy)", NFT: "(nf_tables)"}[cfg.Mode]
	if !bytes.Contains(out, []byte(want)) {
		return nil, fmt.Errorf("create %s backend: %s reports %q, want mode %s: %w",
			cfg.Mode, cfg.Path, bytes.TrimSpace(out), want, core.ErrInvalidParameter)
	}
	secs := int((cfg.LockTimeout + 999_999_999) / 1_000_000_000)
	ipt, err := goipt.New(goipt.IPFamily(goipt.ProtocolIPv4), goipt.Path(cfg.Path), goipt.Timeout(secs))
	if err != nil {
		return nil, fmt.Errorf("create %s backend: %w", cfg.Mode, err)
	}
	return &Firewall{cfg: cfg, ipt: ipt, randomFully: ipt.HasRandomFully()}, nil
}

// LookBinary finds an iptables binary by name in PATH, /usr/sbin or
// /sbin. The error wraps core.ErrNotFound.
func LookBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s: %w", name, core.ErrNotFound)
}

// RandomFully reports whether the SNAT rule uses --random-fully (true
// until the binary or the kernel proves unable).
func (f *Firewall) RandomFully() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.randomFully
}

// Apply makes the tables hold exactly the rules for cfg.
func (f *Firewall) Apply(ctx context.Context, cfg ports.FirewallConfig) error {
	s, err := spec.Normalize(cfg)
	if err != nil {
		return fmt.Errorf("apply %s rules: %w", f.cfg.Mode, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	err = nsexec.Run(f.cfg.NetNS, func() error {
		for {
			err := f.reconcile(ctx, Desired(s, f.randomFully))
			var rf *randomFullyError
			if errors.As(err, &rf) && f.randomFully {
				// The binary accepted the option but the kernel did not:
				// remember it and converge with --random instead.
				f.cfg.Logger.Warn("SNAT --random-fully refused, falling back to --random",
					"backend", string(f.cfg.Mode), "error", rf.err)
				f.randomFully = false
				continue
			}
			return err
		}
	})
	if err != nil {
		return fmt.Errorf("apply %s rules: %w", f.cfg.Mode, err)
	}
	return nil
}

// Teardown removes every chain and rule this backend owns, including those
// of older upstream releases. Tables that do not exist are not created.
func (f *Firewall) Teardown(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := nsexec.Run(f.cfg.NetNS, func() error { return f.reconcile(ctx, Ruleset{}) }); err != nil {
		return fmt.Errorf("tear down %s rules: %w", f.cfg.Mode, err)
	}
	return nil
}

// Render prints the owned rules currently in the kernel (see
// Ruleset.Render).
func (f *Firewall) Render(ctx context.Context) (string, error) {
	var out string
	err := nsexec.Run(f.cfg.NetNS, func() error {
		full, err := f.save(ctx)
		if err != nil {
			return err
		}
		out = Owned(full).Render()
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("render %s rules: %w", f.cfg.Mode, err)
	}
	return out, nil
}

// Save returns the parsed output of iptables-save for every table.
func (f *Firewall) Save(ctx context.Context) (Ruleset, error) {
	var full Ruleset
	err := nsexec.Run(f.cfg.NetNS, func() error {
		var err error
		full, err = f.save(ctx)
		return err
	})
	return full, err
}

// save runs iptables-save without -t: naming a table would make the
// legacy kernel instantiate it, and a node that never used legacy tables
// must not get them from us.
func (f *Firewall) save(ctx context.Context) (Ruleset, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, f.cfg.SavePath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, mapErr(fmt.Errorf("run %s: %w: %s", f.cfg.SavePath, err, strings.TrimSpace(stderr.String())))
	}
	full, err := ParseSave(stdout.String())
	if err != nil {
		return nil, fmt.Errorf("read %s output: %w", f.cfg.SavePath, err)
	}
	return full, nil
}

type randomFullyError struct{ err error }

func (e *randomFullyError) Error() string {
	return "add SNAT rule with --random-fully: " + e.err.Error()
}
func (e *randomFullyError) Unwrap() error { return e.err }

// reconcile moves the kernel from its current state to want, touching only
// owned chains and owned rules.
func (f *Firewall) reconcile(ctx context.Context, want Ruleset) error {
	full, err := f.save(ctx)
	if err != nil {
		return err
	}
	have := Owned(full)
	for _, table := range ownedTables {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.reconcileTable(table, full[table], have[table], want[table]); err != nil {
			return err
		}
	}
	return nil
}

func (f *Firewall) reconcileTable(table string, full, have, want map[string][][]string) error {
	// 1. Owned chains that should exist: create, then fill or rewrite.
	for _, chain := range sortedKeys(want) {
		if !IsOwnedChain(chain) {
			continue
		}
		if _, ok := full[chain]; !ok {
			f.cfg.Logger.Info("create chain", "backend", string(f.cfg.Mode), "table", table, "chain", chain)
			if err := f.ipt.NewChain(table, chain); err != nil && !isExists(err) {
				return mapErr(fmt.Errorf("create chain %s/%s: %w", table, chain, err))
			}
		}
		if !equalRules(have[chain], want[chain]) {
			if err := f.rewriteChain(table, chain, len(have[chain]), want[chain]); err != nil {
				return err
			}
		}
	}
	// 2. Our rules inside chains we do not own.
	foreign := map[string]bool{}
	for chain := range want {
		foreign[chain] = !IsOwnedChain(chain)
	}
	for chain := range have {
		if !IsOwnedChain(chain) {
			foreign[chain] = true
		}
	}
	for _, chain := range sortedKeys(foreign) {
		if !foreign[chain] {
			continue
		}
		if err := f.syncForeign(table, chain, full[chain], want[chain]); err != nil {
			return err
		}
	}
	// 3. Owned chains that should not exist (including the AWS-*-CHAIN-1..N
	// of old releases): flush them all first, as they may jump to each
	// other, then delete them.
	var stale []string
	for _, chain := range sortedKeys(have) {
		if _, ok := want[chain]; IsOwnedChain(chain) && !ok {
			stale = append(stale, chain)
		}
	}
	for _, chain := range stale {
		f.cfg.Logger.Info("remove chain", "backend", string(f.cfg.Mode), "table", table, "chain", chain)
		if err := f.ipt.ClearChain(table, chain); err != nil {
			return mapErr(fmt.Errorf("flush chain %s/%s: %w", table, chain, err))
		}
	}
	for _, chain := range stale {
		if err := f.ipt.DeleteChain(table, chain); err != nil && !isNotExist(err) {
			return mapErr(fmt.Errorf("delete chain %s/%s: %w", table, chain, err))
		}
	}
	return nil
}

// rewriteChain replaces the n rules of an owned chain with want without
// ever leaving it empty: the new rules are inserted on top (from then on
// they decide every packet, as each path through them ends in RETURN or a
// terminal target), then the old ones, now below, are deleted.
func (f *Firewall) rewriteChain(table, chain string, n int, want [][]string) error {
	f.cfg.Logger.Info("rewrite chain", "backend", string(f.cfg.Mode), "table", table, "chain", chain,
		"old_rules", n, "new_rules", len(want))
	for i, r := range want {
		if err := f.ipt.Insert(table, chain, i+1, r...); err != nil {
			if slices.Contains(r, "--random-fully") {
				// Undo the partial insert so the retry starts clean.
				for j := i; j > 0; j-- {
					_ = f.ipt.DeleteById(table, chain, 1)
				}
				return &randomFullyError{err: err}
			}
			return mapErr(fmt.Errorf("insert into %s/%s rule %q: %w", table, chain, RuleLine(chain, r), err))
		}
	}
	for range n {
		if err := f.ipt.DeleteById(table, chain, len(want)+1); err != nil {
			return mapErr(fmt.Errorf("delete old rule %d of %s/%s: %w", len(want)+1, table, chain, err))
		}
	}
	return nil
}

// syncForeign makes the owned rules of a chain we do not own equal want,
// in order, leaving every other rule alone. The owned rules that already
// match a prefix of want stay; the rest are deleted and the missing ones
// appended, which keeps our rules in their relative order.
func (f *Firewall) syncForeign(table, chain string, full, want [][]string) error {
	var pos []int // 1-based positions of owned rules
	var have [][]string
	for i, r := range full {
		if IsOwnedRule(r) {
			pos = append(pos, i+1)
			have = append(have, r)
		}
	}
	if equalRules(have, want) {
		return nil
	}
	keep := 0
	for keep < len(have) && keep < len(want) && slices.Equal(have[keep], want[keep]) {
		keep++
	}
	for j := len(have) - 1; j >= keep; j-- {
		f.cfg.Logger.Info("delete rule", "backend", string(f.cfg.Mode), "table", table, "rule", RuleLine(chain, have[j]))
		if err := f.deleteAt(table, chain, pos[j], have[j]); err != nil {
			return err
		}
	}
	for _, r := range want[keep:] {
		f.cfg.Logger.Info("append rule", "backend", string(f.cfg.Mode), "table", table, "rule", RuleLine(chain, r))
		if err := f.ipt.Append(table, chain, r...); err != nil {
			return mapErr(fmt.Errorf("append to %s/%s rule %q: %w", table, chain, RuleLine(chain, r), err))
		}
	}
	return nil
}

// deleteAt deletes the rule at pos after checking it is still r (another
// program may have changed the chain since it was read); otherwise it
// deletes the first rule equal to r.
func (f *Firewall) deleteAt(table, chain string, pos int, r []string) error {
	line, err := f.ipt.ListById(table, chain, pos)
	if err == nil && strings.TrimSpace(line) == RuleLine(chain, r) {
		err = f.ipt.DeleteById(table, chain, pos)
	} else {
		err = f.ipt.Delete(table, chain, r...)
	}
	if err != nil && !isNotExist(err) {
		return mapErr(fmt.Errorf("delete from %s/%s rule %q: %w", table, chain, RuleLine(chain, r), err))
	}
	return nil
}

func equalRules(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func isExists(err error) bool {
	var e *goipt.Error
	return errors.As(err, &e) && e.ExitStatus() == 1 && strings.Contains(e.Error(), "exists")
}

func isNotExist(err error) bool {
	var e *goipt.Error
	return errors.As(err, &e) && e.IsNotExist()
}

// mapErr adds the core sentinel matching an iptables failure.
func mapErr(err error) error {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	case strings.Contains(err.Error(), "Permission denied"), errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %w", core.ErrUnauthorized, err)
	}
	return err
}
