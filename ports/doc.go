// Package ports declares the interfaces the node IPAM service needs from the
// outside world: the EC2 API, instance metadata, a clock and a checkpoint
// store. In this project a "port" is simply a Go interface owned by its
// consumer and written in domain types (netip, core.ENIID, ...); no AWS SDK,
// netlink or Kubernetes type ever appears here. Adapters under adapters/
// implement them.
package ports
