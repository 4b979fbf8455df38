package limits

import (
	"slices"
	"strings"
	"sync"
)

// Lookup returns the built-in limits of the named instance type. The
// returned value is a copy; changing it does not change the table.
func Lookup(name string) (InstanceType, bool) {
	i, ok := slices.BinarySearchFunc(builtin[:], name, func(t InstanceType, n string) int {
		return strings.Compare(t.Name, n)
	})
	if !ok {
		return InstanceType{}, false
	}
	return clone(builtin[i]), true
}

// Names returns the names of all built-in instance types in ascending byte
// order. The caller owns the returned slice.
func Names() []string {
	names := make([]string, len(builtin))
	for i := range builtin {
		names[i] = builtin[i].Name
	}
	return names
}

// Count returns the number of built-in instance types.
func Count() int { return len(builtin) }

// clone copies t so that the caller cannot reach shared backing arrays.
func clone(t InstanceType) InstanceType {
	t.NetworkCards = slices.Clone(t.NetworkCards)
	return t
}

// Table answers lookups from the built-in table plus types added at run time,
// typically ones the daemon learned from EC2 DescribeInstanceTypes because
// they are newer than the generated table. An added type takes precedence
// over a built-in one of the same name, so fresher data from EC2 wins.
//
// The zero value is ready to use and holds no additions. A Table is safe for
// concurrent use by multiple goroutines.
type Table struct {
	mu    sync.RWMutex
	extra map[string]InstanceType
}

// NewTable returns a Table that layers extra over the built-in table. Later
// entries replace earlier ones of the same name.
func NewTable(extra ...InstanceType) *Table {
	tb := &Table{}
	for _, t := range extra {
		tb.Add(t)
	}
	return tb
}

// Add records t under t.Name, replacing any earlier addition of that name
// and shadowing a built-in entry. A type with an empty name is ignored,
// since it could never be looked up by an instance's real type. The table
// keeps its own copy of t.
func (tb *Table) Add(t InstanceType) {
	if t.Name == "" {
		return
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.extra == nil {
		tb.extra = make(map[string]InstanceType)
	}
	tb.extra[t.Name] = clone(t)
}

// Lookup returns the limits of the named type: a run-time addition if there
// is one, else the built-in entry. The returned value is a copy.
func (tb *Table) Lookup(name string) (InstanceType, bool) {
	tb.mu.RLock()
	t, ok := tb.extra[name]
	tb.mu.RUnlock()
	if ok {
		return clone(t), true
	}
	return Lookup(name)
}

// MaxPodsByName computes MaxPods for the named type as this table knows it.
// An unknown name yields an error wrapping core.ErrUnknownInstanceType.
func (tb *Table) MaxPodsByName(name string, o MaxPodsOptions) (int, error) {
	t, ok := tb.Lookup(name)
	if !ok {
		return 0, unknownType(name)
	}
	return MaxPods(t, o)
}
