package emulator

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
)

// Error codes the protocol layer returns on top of memory's.
const (
	codeInvalidAction          = "InvalidAction"
	codeMissingAction          = "MissingAction"
	codeUnknownParameter       = "UnknownParameter"
	codeDryRunOperation        = "DryRunOperation"
	codeInvalidPaginationToken = "InvalidPaginationToken"
	codeInvalidFilter          = "InvalidParameterValue"
)

// protoErr builds an error of the protocol layer.
func protoErr(code, format string, args ...any) *memory.APIError {
	return &memory.APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func missing(name string) *memory.APIError {
	return protoErr(memory.CodeMissingParameter, "The request must contain the parameter %s", name)
}

func invalid(name, value string) *memory.APIError {
	return protoErr(memory.CodeInvalidParameterValue, "Value (%s) for parameter %s is invalid", value, name)
}

func unsupported(name string) *memory.APIError {
	return protoErr(memory.CodeInvalidParameterValue, "The parameter %s is valid in EC2 but not implemented by the emulator", name)
}

// params reads EC2 Query parameters and remembers which keys were read, so
// that keys nobody read can be refused instead of silently ignored.
type params struct {
	v    url.Values
	used map[string]bool
}

func newParams(v url.Values) *params {
	return &params{v: v, used: map[string]bool{"Action": true, "Version": true}}
}

func (p *params) has(key string) bool {
	_, ok := p.v[key]
	return ok
}

// str returns the value of key ("" when absent) and marks it read.
func (p *params) str(key string) string {
	p.used[key] = true
	return p.v.Get(key)
}

func (p *params) required(key string) (string, *memory.APIError) {
	v := p.str(key)
	if v == "" {
		return "", missing(key)
	}
	return v, nil
}

// int reads an optional integer; ok is false when absent.
func (p *params) int(key string) (n int, ok bool, e *memory.APIError) {
	if !p.has(key) {
		p.used[key] = true
		return 0, false, nil
	}
	s := p.str(key)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, invalid(key, s)
	}
	return n, true, nil
}

func (p *params) requiredInt(key string) (int, *memory.APIError) {
	n, ok, e := p.int(key)
	if e != nil {
		return 0, e
	}
	if !ok {
		return 0, missing(key)
	}
	return n, nil
}

// bool reads an optional boolean; ok is false when absent.
func (p *params) bool(key string) (b, ok bool, e *memory.APIError) {
	if !p.has(key) {
		p.used[key] = true
		return false, false, nil
	}
	s := p.str(key)
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, false, invalid(key, s)
	}
	return b, true, nil
}

// indexes returns the sorted distinct N of keys "prefix.N" and
// "prefix.N.anything".
func (p *params) indexes(prefix string) []int {
	var out []int
	for k := range p.v {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || strconv.Itoa(n) != num {
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// list reads the flattened list prefix.1, prefix.2, ... in index order.
func (p *params) list(prefix string) []string {
	var out []string
	for _, n := range p.indexes(prefix) {
		k := prefix + "." + strconv.Itoa(n)
		if p.has(k) {
			out = append(out, p.str(k))
		}
	}
	return out
}

// unused returns the keys nobody read, sorted.
func (p *params) unused() []string {
	var out []string
	for k := range p.v {
		if !p.used[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (p *params) addrs(prefix string) ([]netip.Addr, *memory.APIError) {
	var out []netip.Addr
	for _, s := range p.list(prefix) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, invalid(prefix, s)
		}
		out = append(out, a)
	}
	return out, nil
}

func (p *params) prefixes(prefix string) ([]netip.Prefix, *memory.APIError) {
	var out []netip.Prefix
	for _, s := range p.list(prefix) {
		q, err := netip.ParsePrefix(s)
		if err != nil || q != q.Masked() {
			return nil, invalid(prefix, s)
		}
		out = append(out, q)
	}
	return out, nil
}

// filter is one Filter.N: a name and the values any of which may match.
type filter struct {
	name   string
	values []string
}

// filters reads Filter.N.Name / Filter.N.Value.M and checks every name
// against known (names) and, when tags is set, the tag:<key> form.
func (p *params) filters(known []string, tags bool) ([]filter, *memory.APIError) {
	var out []filter
	for _, n := range p.indexes("Filter") {
		base := "Filter." + strconv.Itoa(n)
		name, e := p.required(base + ".Name")
		if e != nil {
			return nil, e
		}
		if !slices.Contains(known, name) && !(tags && strings.HasPrefix(name, "tag:") && len(name) > 4) {
			return nil, protoErr(codeInvalidFilter, "The filter '%s' is invalid", name)
		}
		out = append(out, filter{name: name, values: p.list(base + ".Value")})
	}
	return out, nil
}

// matchAny reports whether any filter value matches s, with EC2's
// wildcards: * for any run of characters, ? for one.
func matchAny(values []string, s ...string) bool {
	for _, v := range values {
		for _, x := range s {
			if glob(v, x) {
				return true
			}
		}
	}
	return false
}

func glob(pattern, s string) bool {
	// Iterative matcher with backtracking over the last star.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchTags applies tag-key, tag-value and tag:<key> filters.
func matchTags(f filter, tags map[string]string) (handled, ok bool) {
	switch {
	case f.name == "tag-key":
		for k := range tags {
			if matchAny(f.values, k) {
				return true, true
			}
		}
		return true, false
	case f.name == "tag-value":
		for _, v := range tags {
			if matchAny(f.values, v) {
				return true, true
			}
		}
		return true, false
	case strings.HasPrefix(f.name, "tag:"):
		v, present := tags[strings.TrimPrefix(f.name, "tag:")]
		return true, present && matchAny(f.values, v)
	}
	return false, false
}

// page is a parsed MaxResults/NextToken pair.
type page struct {
	max    int // 0: everything
	offset int
}

// pagination reads MaxResults (within [lo, hi]) and NextToken. With ids
// set, MaxResults may not be combined with explicit ids, as in EC2.
func (p *params) pagination(lo, hi int, idsGiven bool) (page, *memory.APIError) {
	var pg page
	n, ok, e := p.int("MaxResults")
	if e != nil {
		return pg, e
	}
	if ok {
		if idsGiven {
			return pg, protoErr(memory.CodeInvalidParameterCombination, "The parameter MaxResults cannot be used with explicit ids")
		}
		if n < lo || n > hi {
			return pg, protoErr(memory.CodeInvalidParameterValue, "Value (%d) for parameter MaxResults is invalid. Expecting a value between %d and %d.", n, lo, hi)
		}
		pg.max = n
	}
	if tok := p.str("NextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		off, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "o:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), "o:") || off < 0 {
			return pg, protoErr(codeInvalidPaginationToken, "The pagination token %s is invalid", tok)
		}
		pg.offset = off
	}
	return pg, nil
}

// window returns the [lo, hi) range of n items to return and the token
// for the next page ("" on the last one). The token is the offset of the
// next item: items created or deleted between pages shift later pages, as
// they may on EC2.
func (pg page) window(n int) (lo, hi int, next string) {
	lo = min(pg.offset, n)
	hi = n
	if pg.max > 0 && lo+pg.max < n {
		hi = lo + pg.max
		next = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(hi)))
	}
	return lo, hi, next
}
