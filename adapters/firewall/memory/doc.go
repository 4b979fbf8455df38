// Package memory is an in-memory ports.Firewall for unit tests of the
// code that drives the firewall (the node agent's datapath loop). It is a
// stateful fake, not a mock: Apply validates the config exactly like the
// real backends and keeps the rules a real backend would install, in that
// backend's own text (iptables-save lines or an nft table listing, from
// the same pure renderers), so a test can compare Render with the same
// golden text it would expect on a node. Tamper simulates somebody
// deleting rules behind the agent's back and FailNext injects errors.
package memory
