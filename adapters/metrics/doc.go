// Package metrics exposes ipamd's Prometheus metrics on :61678/metrics
// with the upstream awscni_* names, so existing dashboards, alerts and the
// cni-metrics-helper keep working against this agent.
//
// Pool-level numbers (ENIs, addresses, prefixes, reconcile and error
// totals) are pushed in as one Stats value by Update, which the daemon calls
// periodically; the collector reports the latest value at scrape time, so
// a scrape never takes a lock the allocator holds. Per-request counters
// (ADD, DEL, no address) are incremented as requests arrive: Metrics
// satisfies the rpcserver's Observer interface.
//
// Names and types follow upstream (gauges for sizes, counters for totals,
// a histogram for the start-up duration). One gauge is ours:
// awscni_cooldown_ip_addresses, the addresses released recently that no pod
// can get until their cooldown ends; upstream counts them as available
// (issue #1379), which makes a pool look healthier than it is. The registry
// also carries the Go runtime and process collectors, as the default
// registry upstream uses does.
package metrics
