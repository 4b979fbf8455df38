package reconcile

import (
	"slices"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Leaked returns the ENIs this node created and then lost track of: the
// description starts with core.ENIDescriptionPrefix, the instance_id tag
// names self, the status is "available" (not attached), the ENI is not
// tagged no_manage, and it is at least minAge old. Such ENIs are left
// behind when the agent crashes between creating and attaching an ENI, or
// between detaching and deleting one.
//
// The age comes from ENI.CreatedAt or, when that is zero, from the
// createdAt tag (RFC 3339). ENIs of unknown age are never reported; see
// Undated. The result is sorted and free of duplicates.
func Leaked(enis []core.ENI, self core.InstanceID, now time.Time, minAge time.Duration) []core.ENIID {
	var out []core.ENIID
	for _, e := range enis {
		if !leakCandidate(e, self) {
			continue
		}
		created, ok := createdAt(e)
		if !ok || now.Sub(created) < minAge {
			continue
		}
		out = append(out, e.ID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Undated returns the leak candidates (as Leaked would consider them) whose
// creation time is unknown. The caller should tag them with
// core.TagCreatedAt now, so that a later scan can age them out.
func Undated(enis []core.ENI, self core.InstanceID) []core.ENIID {
	var out []core.ENIID
	for _, e := range enis {
		if !leakCandidate(e, self) {
			continue
		}
		if _, ok := createdAt(e); !ok {
			out = append(out, e.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func leakCandidate(e core.ENI, self core.InstanceID) bool {
	return self != "" &&
		e.Status == "available" &&
		strings.HasPrefix(e.Description, core.ENIDescriptionPrefix) &&
		e.Tags[core.TagInstanceID] == string(self) &&
		!e.NoManage()
}

func createdAt(e core.ENI) (time.Time, bool) {
	if !e.CreatedAt.IsZero() {
		return e.CreatedAt, true
	}
	v, ok := e.Tags[core.TagCreatedAt]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
