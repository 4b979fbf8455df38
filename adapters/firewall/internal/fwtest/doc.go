// Package fwtest holds helpers for the firewall adapters' privileged
// tests: a throw-away named network namespace per test and a way to run
// commands (iptables, nft) in it. Only tests import it.
package fwtest
