// Package config turns the process environment into one typed, validated
// value.
//
// Upstream reads its environment variables at dozens of call sites, some of
// them on every call, and quietly falls back to a default when a value does
// not parse, so an operator's typo ("ture", "5O") silently changes the
// node's behaviour. Here every variable the product understands is declared
// once, in a table that also drives the documentation (docs/configuration.md)
// and the tests, and parsed once at start-up:
//
//   - a value that does not parse is an error naming the variable, the value
//     and what would have been accepted; all such errors are reported
//     together, not only the first one;
//   - combinations that cannot work (IPv6 without prefix delegation, both or
//     neither IP family) are errors too;
//   - deprecated no-op variables and the items upstream documents as
//     "skipped" (bad CIDRs in a list, reserved tag keys) become warnings.
//
// The package is plain Go with no dependency-injection framework, so
// commands, tests and the simulator can call Parse with any lookup function.
// It translates the result into the service configurations (NodeIPAM) and
// the introspection views upstream exposes (IPAMDSettings, NetworkSettings).
package config
