package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vpc-cni/vpc-cni/core"
)

// This file holds one constructor per kind of variable. Each returns a spec
// whose apply stores the default when the variable is unset or invalid (so
// one mistake does not cascade into the cross-variable checks) and whose
// show renders the stored value.

const (
	minMTU   = 576
	minMTUv6 = 1280
	maxMTU   = 9001

	maxTagKey   = 128
	maxTagValue = 256
)

const boolAccepts = "true or false in any case (1/0 and t/f also work)"

func parseBool(s string) (bool, error) { return strconv.ParseBool(strings.ToLower(s)) }

func boolVar(name string, def bool, field func(*Env) *bool, desc string) spec {
	return spec{
		Var: Var{Name: name, Default: strconv.FormatBool(def), Kind: "bool", Accepts: boolAccepts, Description: desc,
			Upstream: "Invalid text is an error; upstream logs it and uses the default."},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := def
			if set {
				b, err := parseBool(raw)
				if err != nil {
					p.fail(name, raw, "true or false")
				} else {
					v = b
				}
			}
			*field(e) = v
		},
		show: func(e *Env) string { return strconv.FormatBool(*field(e)) },
	}
}

// countVar is an integer where zero or a negative value means "unset".
func countVar(name string, field func(*Env) *int, desc string) spec {
	return spec{
		Var: Var{Name: name, Kind: "integer", Accepts: "an integer; 0 or negative means unset", Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := 0
			if set {
				n, err := strconv.Atoi(raw)
				if err != nil {
					p.fail(name, raw, "an integer")
				} else if n > 0 {
					v = n
				}
			}
			*field(e) = v
		},
		show: func(e *Env) string { return strconv.Itoa(*field(e)) },
	}
}

// secondsVar is a whole number of seconds, at least min.
func secondsVar(name string, def, min int, field func(*Env) *time.Duration, desc string) spec {
	want := fmt.Sprintf("an integer number of seconds >= %d", min)
	return spec{
		Var: Var{Name: name, Default: strconv.Itoa(def), Kind: "seconds", Accepts: want, Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := def
			if set {
				n, err := strconv.Atoi(raw)
				if err != nil || n < min {
					p.fail(name, raw, want)
				} else {
					v = n
				}
			}
			*field(e) = time.Duration(v) * time.Second
		},
		show: func(e *Env) string { return strconv.Itoa(int(*field(e) / time.Second)) },
	}
}

// mtuVar is an MTU; def 0 means "unset" (resolved by Parse.combine).
func mtuVar(name string, def int, field func(*Env) *int, desc string) spec {
	want := fmt.Sprintf("an integer from %d to %d (%d to %d in IPv6 mode)", minMTU, maxMTU, minMTUv6, maxMTU)
	d := ""
	if def != 0 {
		d = strconv.Itoa(def)
	}
	return spec{
		Var: Var{Name: name, Default: d, Kind: "mtu", Accepts: want, Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := def
			if set {
				n, err := strconv.Atoi(raw)
				if err != nil || n < minMTU || n > maxMTU {
					p.fail(name, raw, want)
				} else {
					v = n
				}
			}
			*field(e) = v
		},
		show: func(e *Env) string { return strconv.Itoa(*field(e)) },
	}
}

// stringVar is free text checked by check, which returns "" when the value
// is fine and otherwise what would be accepted.
func stringVar(name, def, kind, accepts string, check func(string) string, field func(*Env) *string, desc string) spec {
	return spec{
		Var: Var{Name: name, Default: def, Kind: kind, Accepts: accepts, Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := def
			if set {
				if want := check(raw); want != "" {
					p.fail(name, raw, want)
				} else {
					v = raw
				}
			}
			*field(e) = v
		},
		show: func(e *Env) string { return *field(e) },
	}
}

// enumVar is one of a fixed set of words, compared after fold.
func enumVar[T ~string](name string, def T, values []T, fold func(string) string, field func(*Env) *T, desc string) spec {
	words := make([]string, len(values))
	for i, v := range values {
		words[i] = string(v)
	}
	want := "one of " + strings.Join(words, ", ")
	if def == "" {
		want += " (or empty)"
	}
	accepts := want
	if fold != nil {
		accepts += ", any case"
	}
	return spec{
		Var: Var{Name: name, Default: string(def), Kind: "enum", Accepts: accepts, Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := def
			if set {
				s := raw
				if fold != nil {
					s = fold(s)
				}
				ok := false
				for _, w := range values {
					if string(w) == s {
						v, ok = w, true
						break
					}
				}
				if !ok {
					p.fail(name, raw, want)
				}
			}
			*field(e) = v
		},
		show: func(e *Env) string { return string(*field(e)) },
	}
}

var logLevels = []LogLevel{LogDebug, LogInfo, LogWarn, LogError, LogFatal}

func logLevelVar(name string, field func(*Env) *LogLevel, desc string) spec {
	return enumVar(name, LogDebug, logLevels, strings.ToUpper, field, desc)
}

// cidrListVar is a comma-separated list of IPv4 CIDRs. Items that are not
// IPv4 CIDRs are skipped with a warning, as upstream documents.
func cidrListVar(name string, field func(*Env) *[]netip.Prefix, desc string) spec {
	return spec{
		Var: Var{Name: name, Kind: "cidr-list", Accepts: "comma-separated IPv4 CIDRs; other items are skipped with a warning", Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			var out []netip.Prefix
			if set {
				for _, item := range strings.Split(raw, ",") {
					item = strings.TrimSpace(item)
					if item == "" {
						continue
					}
					pfx, err := netip.ParsePrefix(item)
					switch {
					case err != nil:
						p.warn("%s: skipping %q: not a CIDR", name, item)
					case !pfx.Addr().Is4():
						p.warn("%s: skipping %q: only IPv4 CIDRs are supported", name, item)
					default:
						out = append(out, pfx.Masked())
					}
				}
			}
			*field(e) = out
		},
		show: func(e *Env) string { return joinPrefixes(*field(e)) },
	}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func prefixStrings(ps []netip.Prefix) []string {
	if len(ps) == 0 {
		return nil
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return s
}

// deprecatedVar is accepted with any value and reported as a warning.
func deprecatedVar(name, readmeDefault, desc string) spec {
	return spec{
		Var: Var{Name: name, Default: readmeDefault, Kind: "deprecated", Accepts: "anything (ignored)", Description: desc, Deprecated: true,
			Upstream: "Setting it logs a warning."},
		apply: func(p *parser, _ *Env, raw string, set bool) {
			if set {
				p.warn("%s=%q is deprecated and has no effect", name, raw)
			}
		},
	}
}

// connmarkVar is AWS_VPC_K8S_CNI_CONNMARK.
func connmarkVar(name string, def uint32, field func(*Env) *uint32, desc string) spec {
	const want = "a non-zero 32-bit mark, decimal or 0x-prefixed hex (e.g. 0x80)"
	return spec{
		Var: Var{Name: name, Default: fmt.Sprintf("0x%x", def), Kind: "mask", Accepts: want, Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := def
			if set {
				n, err := strconv.ParseUint(raw, 0, 32)
				if err != nil || n == 0 {
					p.fail(name, raw, want)
				} else {
					v = uint32(n)
				}
			}
			*field(e) = v
		},
		show: func(e *Env) string { return fmt.Sprintf("0x%x", *field(e)) },
	}
}

// tagsVar is ADDITIONAL_ENI_TAGS.
func tagsVar(name string, field func(*Env) *map[string]string, desc string) spec {
	const want = `a JSON object of string keys and string values, e.g. {"team":"net"}`
	return spec{
		Var: Var{Name: name, Default: "{}", Kind: "json", Accepts: fmt.Sprintf("%s; keys of 1 to %d characters not starting with aws:, values of at most %d characters; keys containing %s are dropped with a warning",
			want, maxTagKey, maxTagValue, core.TagReservedSubstring), Description: desc},
		apply: func(p *parser, e *Env, raw string, set bool) {
			out := map[string]string{}
			*field(e) = out
			if !set {
				return
			}
			var in map[string]string
			if err := json.Unmarshal([]byte(raw), &in); err != nil {
				p.fail(name, raw, want)
				return
			}
			keys := make([]string, 0, len(in))
			for k := range in {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var bad []string
			for _, k := range keys {
				v := in[k]
				switch {
				case k == "":
					bad = append(bad, "a tag key must not be empty")
				case utf8.RuneCountInString(k) > maxTagKey:
					bad = append(bad, fmt.Sprintf("tag keys of at most %d characters (key %q has %d)", maxTagKey, k, utf8.RuneCountInString(k)))
				case strings.HasPrefix(strings.ToLower(k), "aws:"):
					bad = append(bad, fmt.Sprintf("tag keys not starting with aws: (%q is reserved by AWS)", k))
				case utf8.RuneCountInString(v) > maxTagValue:
					bad = append(bad, fmt.Sprintf("tag values of at most %d characters (value of %q has %d)", maxTagValue, k, utf8.RuneCountInString(v)))
				case strings.Contains(k, core.TagReservedSubstring):
					p.warn("%s: dropping tag %q: keys containing %q are reserved for the CNI", name, k, core.TagReservedSubstring)
				default:
					out[k] = v
				}
			}
			if len(bad) > 0 {
				p.fail(name, raw, strings.Join(bad, "; "))
				*field(e) = map[string]string{}
			}
		},
		show: func(e *Env) string {
			b, _ := json.Marshal(*field(e)) // a map[string]string always marshals
			return string(b)
		},
	}
}

// Checks for stringVar. Each returns "" for a good value, else what is
// accepted.

func anyString(string) string { return "" }

func absPath(v string) string {
	if !path.IsAbs(v) {
		return "an absolute path"
	}
	return ""
}

func logFile(v string) string {
	if v == "stdout" || v == "stderr" || path.IsAbs(v) {
		return ""
	}
	return "stdout, stderr or an absolute path"
}

func pluginLogFile(v string) string {
	if v == "" || v == "stderr" || path.IsAbs(v) {
		return ""
	}
	return "stderr, empty (= stderr) or an absolute path; stdout carries the plugin's result to the runtime and cannot take logs"
}

func maxLen(n int) func(string) string {
	return func(v string) string {
		if utf8.RuneCountInString(v) > n {
			return fmt.Sprintf("at most %d characters", n)
		}
		return ""
	}
}

// vethPrefix: the host veth is named prefix + 11 hash characters, within
// the kernel's 15-character limit.
func vethPrefix(v string) string {
	const want = "1 to 4 letters, digits, '-' or '_', other than eth, vlan and lo"
	if len(v) > 4 || v == "eth" || v == "vlan" || v == "lo" {
		return want
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return want
		}
	}
	return ""
}

// qualifiedName accepts a Kubernetes label or annotation key:
// [DNS-subdomain "/"] name, name up to 63 characters of [A-Za-z0-9-_.]
// beginning and ending with an alphanumeric.
func qualifiedName(v string) string {
	const want = "a Kubernetes label/annotation key such as example.com/name (name: 1-63 of [A-Za-z0-9-_.], alphanumeric at both ends; prefix: a DNS subdomain)"
	prefix, name, found := strings.Cut(v, "/")
	if !found {
		prefix, name = "", v
	} else if !dnsSubdomain(prefix) {
		return want
	}
	if len(name) == 0 || len(name) > 63 || !alnum(name[0]) || !alnum(name[len(name)-1]) {
		return want
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !alnum(c) && c != '-' && c != '_' && c != '.' {
			return want
		}
	}
	return ""
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

func dnsSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			lowerAlnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
			if !lowerAlnum && (c != '-' || i == 0 || i == len(label)-1) {
				return false
			}
		}
	}
	return true
}

// bindAddress accepts host:port (host may be empty for all interfaces) or
// unix:<path>.
func bindAddress(v string) string {
	const want = "host:port with a port from 1 to 65535, or unix:<socket path>"
	if rest, ok := strings.CutPrefix(v, "unix:"); ok {
		if rest == "" {
			return want
		}
		return ""
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || strings.ContainsAny(host, " /") {
		return want
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return want
	}
	return ""
}

// httpURL accepts an http or https URL with a host.
func httpURL(v string) string {
	const want = "an http:// or https:// URL with a host, e.g. https://ec2.us-west-2.amazonaws.com"
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return want
	}
	return ""
}

// apiServer accepts an http(s) URL or a bare host[:port], as Kubernetes
// clients do.
func apiServer(v string) string {
	const want = "an https:// URL or host[:port] of the Kubernetes API server"
	s := v
	if !strings.Contains(v, "://") {
		s = "https://" + v
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(v, " ") {
		return want
	}
	if !strings.Contains(v, "://") && (u.Path != "" || u.RawQuery != "") {
		return want
	}
	return ""
}
