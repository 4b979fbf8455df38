package reconcile

import (
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// detached builds an "available" ENI created by this instance.
func detached(id string, created time.Time, mods ...eniMod) core.ENI {
	e := eni(id, -1, status("available"), owner(""))
	e.CreatedAt = created
	for _, m := range mods {
		m(&e)
	}
	return e
}

func createdTag(t time.Time) eniMod {
	return func(e *core.ENI) {
		e.CreatedAt = time.Time{}
		e.Tags[core.TagCreatedAt] = t.Format(time.RFC3339)
	}
}

func TestLeaked(t *testing.T) {
	const minAge = 5 * time.Minute
	old := now.Add(-10 * time.Minute)
	tests := []struct {
		name        string
		enis        []core.ENI
		self        core.InstanceID
		wantLeaked  []core.ENIID
		wantUndated []core.ENIID
	}{
		{
			name:       "old detached ENI of ours is leaked",
			enis:       []core.ENI{detached("eni-1", old)},
			self:       self,
			wantLeaked: []core.ENIID{"eni-1"},
		},
		{
			name:       "exactly minAge old counts",
			enis:       []core.ENI{detached("eni-1", now.Add(-minAge))},
			self:       self,
			wantLeaked: []core.ENIID{"eni-1"},
		},
		{
			name: "younger than minAge is not (attach may still be coming)",
			enis: []core.ENI{detached("eni-1", now.Add(-minAge+time.Second))},
			self: self,
		},
		{
			name: "created in the future (clock skew) is not",
			enis: []core.ENI{detached("eni-1", now.Add(time.Hour))},
			self: self,
		},
		{
			name:       "age from the createdAt tag",
			enis:       []core.ENI{detached("eni-1", time.Time{}, createdTag(old)), detached("eni-2", time.Time{}, createdTag(now))},
			self:       self,
			wantLeaked: []core.ENIID{"eni-1"},
		},
		{
			name: "attached or attaching ENIs are not leaked",
			enis: []core.ENI{
				detached("eni-1", old, status("in-use")),
				detached("eni-2", old, status("attaching")),
				detached("eni-3", old, status("detaching")),
			},
			self: self,
		},
		{
			name: "ENIs of another instance are not ours to delete",
			enis: []core.ENI{
				detached("eni-1", old, tags(core.TagInstanceID, "i-other")),
				detached("eni-2", old, desc(core.ENIDescriptionPrefix+"i-other"), tags(core.TagInstanceID, "i-other")),
			},
			self: self,
		},
		{
			name: "missing description prefix or tag",
			enis: []core.ENI{
				detached("eni-1", old, desc("created by hand")),
				detached("eni-2", old, tags()),
			},
			self: self,
		},
		{
			name: "no_manage is never touched",
			enis: []core.ENI{detached("eni-1", old, tags(core.TagInstanceID, string(self), core.TagNoManage, "true"))},
			self: self,
		},
		{
			name: "empty self matches nothing",
			enis: []core.ENI{detached("eni-1", old, tags(core.TagInstanceID, ""))},
			self: "",
		},
		{
			name: "unknown age: not leaked, listed as undated",
			enis: []core.ENI{
				detached("eni-2", time.Time{}),
				detached("eni-1", time.Time{}, tags(core.TagInstanceID, string(self), core.TagCreatedAt, "yesterday")),
			},
			self:        self,
			wantUndated: []core.ENIID{"eni-1", "eni-2"},
		},
		{
			name: "sorted and without duplicates",
			enis: []core.ENI{
				detached("eni-c", old), detached("eni-a", old), detached("eni-b", old), detached("eni-a", old),
				detached("eni-x", time.Time{}), detached("eni-x", time.Time{}),
			},
			self:        self,
			wantLeaked:  []core.ENIID{"eni-a", "eni-b", "eni-c"},
			wantUndated: []core.ENIID{"eni-x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Leaked(tt.enis, tt.self, now, minAge); !slices.Equal(got, tt.wantLeaked) {
				t.Errorf("Leaked = %v, want %v", got, tt.wantLeaked)
			}
			if got := Undated(tt.enis, tt.self); !slices.Equal(got, tt.wantUndated) {
				t.Errorf("Undated = %v, want %v", got, tt.wantUndated)
			}
		})
	}
}
