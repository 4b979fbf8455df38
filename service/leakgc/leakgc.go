package leakgc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Defaults of Config.
const (
	DefaultMinAge        = 5 * time.Minute
	DefaultMaxPerPass    = 20
	DefaultInterval      = time.Hour
	DefaultInitialJitter = 5 * time.Minute
)

// Config is the collector's behaviour. Zero fields take the defaults.
type Config struct {
	// ClusterName (CLUSTER_NAME) limits the collector to ENIs tagged
	// cluster.k8s.amazonaws.com/name=<ClusterName>. Empty: any cluster.
	ClusterName string
	// InstanceID, when set, limits the collector to ENIs tagged with that
	// node's instance id.
	InstanceID core.InstanceID
	// VPCID limits the collector to one VPC (recommended).
	VPCID string
	// MinAge protects ENIs younger than this (by their createdAt tag).
	MinAge time.Duration
	// MaxPerPass caps deletions, and separately marks, per pass.
	MaxPerPass int
	// Interval is the pause between two passes of Run.
	Interval time.Duration
	// InitialJitter bounds the random pause before Run's first pass, so
	// nodes started together do not describe at the same moment. Negative:
	// no pause.
	InitialJitter time.Duration
	// Disabled is DISABLE_LEAKED_ENI_CLEANUP: Pass and Run do nothing.
	Disabled bool
}

func (c Config) withDefaults() Config {
	if c.MinAge <= 0 {
		c.MinAge = DefaultMinAge
	}
	if c.MaxPerPass <= 0 {
		c.MaxPerPass = DefaultMaxPerPass
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.InitialJitter == 0 {
		c.InitialJitter = DefaultInitialJitter
	}
	return c
}

// Deps are the ports the collector drives.
type Deps struct {
	Cloud ports.Cloud
	Clock ports.Clock
	// Log receives one line per action and pass; nil discards.
	Log *slog.Logger
}

// Report says what one pass did. ENI lists are in the order handled.
type Report struct {
	// Disabled: the pass did nothing because cleanup is disabled.
	Disabled bool
	// Listed counts the ENIs the describe returned; Ignored those that
	// failed the re-check (not ours, in use, no_manage, trunk, EFA, other
	// cluster or instance).
	Listed, Ignored int
	// Marked ENIs got a createdAt tag now.
	Marked []core.ENIID
	// Young ENIs are not yet MinAge old.
	Young []core.ENIID
	// Deleted ENIs were deleted; Gone ones had already disappeared.
	Deleted, Gone []core.ENIID
	// Busy ENIs were attached again or otherwise not deletable.
	Busy []core.ENIID
	// Deferred ENIs were over the per-pass cap (old enough, or unmarked).
	Deferred []core.ENIID
	// Failed ENIs could not be marked or deleted; see the pass error.
	Failed []core.ENIID
}

// Collector finds and deletes leaked ENIs.
type Collector struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

// New returns a collector. Cloud and Clock are required.
func New(cfg Config, deps Deps) (*Collector, error) {
	cfg = cfg.withDefaults()
	if deps.Cloud == nil || deps.Clock == nil {
		return nil, fmt.Errorf("leaked ENI collector: cloud and clock are required: %w", core.ErrInvalidParameter)
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Collector{cfg: cfg, deps: deps, log: log}, nil
}

type candidate struct {
	eni     core.ENI
	created time.Time // zero: unmarked
}

// Pass runs one mark-then-delete pass. The error joins every failed
// describe, tag and delete; the report says what was done regardless.
func (c *Collector) Pass(ctx context.Context) (Report, error) {
	var rep Report
	if c.cfg.Disabled {
		rep.Disabled = true
		return rep, nil
	}
	filter := ports.ENIFilter{
		VPCID:   c.cfg.VPCID,
		Status:  "available",
		TagKeys: []string{core.TagInstanceID},
	}
	if c.cfg.ClusterName != "" || c.cfg.InstanceID != "" {
		filter.Tags = map[string]string{}
		if c.cfg.ClusterName != "" {
			filter.Tags[core.TagCluster] = c.cfg.ClusterName
		}
		if c.cfg.InstanceID != "" {
			filter.Tags[core.TagInstanceID] = string(c.cfg.InstanceID)
		}
	}
	enis, err := c.deps.Cloud.DescribeENIs(ctx, filter)
	if err != nil {
		return rep, fmt.Errorf("list detached ENIs: %w", err)
	}
	rep.Listed = len(enis)
	now := c.deps.Clock.Now()

	var unmarked, dated []candidate
	for _, e := range enis {
		if !c.ours(e) {
			rep.Ignored++
			continue
		}
		if t, err := time.Parse(time.RFC3339, e.Tags[core.TagCreatedAt]); err == nil {
			dated = append(dated, candidate{eni: e, created: t})
		} else {
			unmarked = append(unmarked, candidate{eni: e})
		}
	}
	slices.SortFunc(unmarked, func(a, b candidate) int { return cmp.Compare(a.eni.ID, b.eni.ID) })
	slices.SortFunc(dated, func(a, b candidate) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.eni.ID, b.eni.ID))
	})

	var errs []error
	stop := false // throttled: leave the rest for the next pass
	stamp := map[string]string{core.TagCreatedAt: now.UTC().Format(time.RFC3339)}
	for _, cand := range unmarked {
		id := cand.eni.ID
		if stop || len(rep.Marked)+len(rep.Failed) >= c.cfg.MaxPerPass {
			rep.Deferred = append(rep.Deferred, id)
			continue
		}
		if err := c.deps.Cloud.CreateTags(ctx, string(id), stamp); err != nil {
			if errors.Is(err, core.ErrNotFound) {
				rep.Gone = append(rep.Gone, id)
				continue
			}
			rep.Failed = append(rep.Failed, id)
			errs = append(errs, fmt.Errorf("mark leaked ENI %s with its discovery time: %w", id, err))
			stop = errors.Is(err, core.ErrThrottled) || ctx.Err() != nil
			continue
		}
		rep.Marked = append(rep.Marked, id)
		c.log.Info("marked detached ENI; it will be deleted once old enough", "eni", string(id), "min_age", c.cfg.MinAge.String())
	}

	deletes := 0
	for _, cand := range dated {
		id := cand.eni.ID
		if age := now.Sub(cand.created); age < c.cfg.MinAge {
			rep.Young = append(rep.Young, id)
			continue
		}
		if stop || deletes >= c.cfg.MaxPerPass {
			rep.Deferred = append(rep.Deferred, id)
			continue
		}
		deletes++
		err := c.deps.Cloud.DeleteENI(ctx, id)
		switch {
		case err == nil:
			rep.Deleted = append(rep.Deleted, id)
			c.log.Info("deleted leaked ENI", "eni", string(id), "created", cand.created.Format(time.RFC3339),
				"instance", cand.eni.Tags[core.TagInstanceID])
		case errors.Is(err, core.ErrNotFound):
			rep.Gone = append(rep.Gone, id)
		case errors.Is(err, core.ErrInvalidState):
			rep.Busy = append(rep.Busy, id)
			c.log.Info("leaked ENI is in use again; leaving it", "eni", string(id), "error", err)
		default:
			rep.Failed = append(rep.Failed, id)
			errs = append(errs, fmt.Errorf("delete leaked ENI %s: %w", id, err))
			stop = errors.Is(err, core.ErrThrottled) || ctx.Err() != nil
		}
	}
	return rep, errors.Join(errs...)
}

// ours re-checks on the answer what the describe filter asked for, plus
// what no filter can express.
func (c *Collector) ours(e core.ENI) bool {
	owner, tagged := e.Tags[core.TagInstanceID]
	switch {
	case e.Status != "available", e.InstanceID != "":
		return false
	case !strings.HasPrefix(e.Description, core.ENIDescriptionPrefix):
		return false
	case !tagged, c.cfg.InstanceID != "" && owner != string(c.cfg.InstanceID):
		return false
	case c.cfg.ClusterName != "" && e.Tags[core.TagCluster] != c.cfg.ClusterName:
		return false
	case c.cfg.VPCID != "" && e.VPCID != c.cfg.VPCID:
		return false
	case e.NoManage(), e.Trunk, e.EFA:
		return false
	}
	return true
}

// Run passes every Interval, after a random pause of up to InitialJitter,
// until ctx ends; then it returns nil. Failed passes are logged and
// retried at the next interval.
func (c *Collector) Run(ctx context.Context) error {
	if c.cfg.Disabled {
		c.log.Info("leaked ENI cleanup disabled")
		return nil
	}
	if c.cfg.InitialJitter > 0 {
		if err := c.deps.Clock.Sleep(ctx, time.Duration(rand.Int64N(int64(c.cfg.InitialJitter)))); err != nil {
			return nil
		}
	}
	for {
		rep, err := c.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("leaked ENI pass failed", "error", err)
		}
		if len(rep.Marked)+len(rep.Deleted)+len(rep.Deferred)+len(rep.Failed) > 0 {
			c.log.Info("leaked ENI pass", "listed", rep.Listed, "marked", len(rep.Marked), "young", len(rep.Young),
				"deleted", len(rep.Deleted), "gone", len(rep.Gone), "deferred", len(rep.Deferred), "failed", len(rep.Failed))
		}
		if err := c.deps.Clock.Sleep(ctx, c.cfg.Interval); err != nil || ctx.Err() != nil {
			return nil
		}
	}
}
