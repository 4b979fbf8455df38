// Command genlimits turns the instance-type limits data set (a JSON object
// keyed by instance type name) into core/limits/table_gen.go, the read-only
// table that core/limits consults before it ever needs to ask EC2.
//
// It is run through go generate from core/limits:
//
//	go generate ./core/limits
//
// or by hand from the repository root:
//
//	go run ./hack/genlimits -in ../shared/data/instance-types.json -out core/limits/table_gen.go
//
// The generator is strict on purpose: an unknown field, a duplicated type,
// a negative limit or a network-card list that contradicts the ENI limit
// stops it, so a changed data set is noticed here rather than in max-pods.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "../shared/data/instance-types.json", "instance-type limits JSON to read")
	out := flag.String("out", "core/limits/table_gen.go", "Go file to write")
	flag.Parse()

	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "genlimits:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()

	types, err := parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	src, err := render(types)
	if err != nil {
		return err
	}
	return os.WriteFile(out, src, 0o644)
}

// card is one element of "networkCards".
type card struct {
	Index         *int `json:"index"`
	MaxInterfaces *int `json:"maxInterfaces"`
}

// record is one value of the top-level object. Pointers tell a missing field
// from a zero one so that required fields can be enforced.
type record struct {
	BareMetal          *bool  `json:"bareMetal"`
	DefaultNetworkCard *int   `json:"defaultNetworkCard"`
	EFASupported       *bool  `json:"efaSupported"`
	Hypervisor         string `json:"hypervisor"`
	IPv4PerENI         *int   `json:"ipv4PerENI"`
	IPv6PerENI         *int   `json:"ipv6PerENI"`
	IPv6Supported      *bool  `json:"ipv6Supported"`
	MaxENIs            *int   `json:"maxENIs"`
	MaxNetworkCards    *int   `json:"maxNetworkCards"`
	NetworkCards       []card `json:"networkCards"`
	VCPUs              *int   `json:"vcpus"`
}

// entry is a validated record with optional fields resolved to zero values.
type entry struct {
	name               string
	maxENIs            int
	ipv4PerENI         int
	ipv6PerENI         int
	defaultNetworkCard int
	cards              [][2]int // {index, maxInterfaces}
	hypervisor         string
	bareMetal          bool
	vcpus              int
	ipv6Supported      bool
	efaSupported       bool
}

// parse reads the top-level JSON object token by token so that a type named
// twice is an error instead of a silent overwrite. Entries come back sorted
// by name (byte order), whatever the order of the file.
func parse(r io.Reader) ([]entry, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("top level is not a JSON object")
	}

	dec.DisallowUnknownFields() // applies to every Decode on the stream
	var out []entry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected token %v", tok)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: listed twice", name)
		}
		seen[name] = true
		var rec record
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		e, err := validate(name, rec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the top-level object")
	}
	if len(out) == 0 {
		return nil, errors.New("no instance types")
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

func validate(name string, r record) (entry, error) {
	if name == "" {
		return entry{}, errors.New("empty instance type name")
	}
	for _, c := range name {
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return entry{}, fmt.Errorf("unexpected character %q in name", c)
		}
	}
	if r.MaxENIs == nil || r.IPv4PerENI == nil || r.Hypervisor == "" {
		return entry{}, errors.New("maxENIs, ipv4PerENI and hypervisor are required")
	}
	switch r.Hypervisor {
	case "nitro", "xen", "unknown":
	default:
		return entry{}, fmt.Errorf("unknown hypervisor %q", r.Hypervisor)
	}
	e := entry{
		name:               name,
		maxENIs:            *r.MaxENIs,
		ipv4PerENI:         *r.IPv4PerENI,
		ipv6PerENI:         intOr0(r.IPv6PerENI),
		defaultNetworkCard: intOr0(r.DefaultNetworkCard),
		hypervisor:         r.Hypervisor,
		bareMetal:          boolOr0(r.BareMetal),
		vcpus:              intOr0(r.VCPUs),
		ipv6Supported:      boolOr0(r.IPv6Supported),
		efaSupported:       boolOr0(r.EFASupported),
	}
	for what, v := range map[string]int{
		"maxENIs": e.maxENIs, "ipv4PerENI": e.ipv4PerENI, "ipv6PerENI": e.ipv6PerENI,
		"defaultNetworkCard": e.defaultNetworkCard, "vcpus": e.vcpus,
	} {
		if v < 0 {
			return entry{}, fmt.Errorf("%s is negative (%d)", what, v)
		}
	}
	if r.MaxNetworkCards != nil && *r.MaxNetworkCards != len(r.NetworkCards) {
		return entry{}, fmt.Errorf("maxNetworkCards %d but %d cards listed", *r.MaxNetworkCards, len(r.NetworkCards))
	}
	seen := map[int]bool{}
	defaultFound := len(r.NetworkCards) == 0
	for i, c := range r.NetworkCards {
		if c.Index == nil || c.MaxInterfaces == nil {
			return entry{}, fmt.Errorf("network card %d lacks index or maxInterfaces", i)
		}
		if *c.Index < 0 || *c.MaxInterfaces < 0 {
			return entry{}, fmt.Errorf("network card %d has a negative value", i)
		}
		if seen[*c.Index] {
			return entry{}, fmt.Errorf("network card index %d listed twice", *c.Index)
		}
		seen[*c.Index] = true
		if *c.Index == e.defaultNetworkCard {
			defaultFound = true
			if *c.MaxInterfaces != e.maxENIs {
				return entry{}, fmt.Errorf("default network card allows %d interfaces but maxENIs is %d", *c.MaxInterfaces, e.maxENIs)
			}
		}
		e.cards = append(e.cards, [2]int{*c.Index, *c.MaxInterfaces})
	}
	if !defaultFound {
		return entry{}, fmt.Errorf("default network card %d is not listed", e.defaultNetworkCard)
	}
	return e, nil
}

func intOr0(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func boolOr0(p *bool) bool {
	return p != nil && *p
}

const header = `// Code generated by hack/genlimits; DO NOT EDIT.

package limits

// The conversion below spells out the column order of the unkeyed literals
// in builtin. It only compiles while InstanceType has exactly these fields in
// this order, so a change to InstanceType forces the generator to be updated
// and rerun instead of silently shifting values into the wrong fields.
var _ = InstanceType(struct {
	Name               string
	MaxENIs            int
	IPv4PerENI         int
	IPv6PerENI         int
	DefaultNetworkCard int
	NetworkCards       []NetworkCard
	Hypervisor         string
	BareMetal          bool
	VCPUs              int
	IPv6Supported      bool
	EFASupported       bool
}{})

// builtin holds the limits of every instance type known at build time,
// sorted by name. Fields the data set leaves out for a type are zero; in
// particular VCPUs is 0 exactly when the vCPU count is unknown.
var builtin = [...]InstanceType{
`

// render writes the Go source for the table, gofmt'ed.
func render(types []entry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	for _, e := range types {
		fmt.Fprintf(&b, "\t{%s, %d, %d, %d, %d, ", strconv.Quote(e.name),
			e.maxENIs, e.ipv4PerENI, e.ipv6PerENI, e.defaultNetworkCard)
		if len(e.cards) == 0 {
			b.WriteString("nil")
		} else {
			b.WriteString("[]NetworkCard{")
			for i, c := range e.cards {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "{%d, %d}", c[0], c[1])
			}
			b.WriteString("}")
		}
		fmt.Fprintf(&b, ", %s, %t, %d, %t, %t},\n", strconv.Quote(e.hypervisor),
			e.bareMetal, e.vcpus, e.ipv6Supported, e.efaSupported)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
