// Package introspection is ipamd's read-only debugging endpoint: a small
// HTTP server on 127.0.0.1:61679 (INTROSPECTION_BIND_ADDRESS, which may also
// be unix:<path>) that operators, the log collector script and tests query
// to see what the agent holds. It keeps upstream's paths and, as far as our
// model allows, upstream's JSON shapes, so existing scripts keep working.
//
// Paths (GET):
//
//	/                              {"AvailableCommands":[...paths...]}
//	/v1/enis                       pool by network card (below)
//	/v1/pods                       pod allocations (ours; no container IDs)
//	/v1/networkutils-env-settings  datapath settings, upstream keys and types
//	/v1/ipamd-env-settings         IPAM settings, upstream keys and types
//	/v1/eni-configs                the node's ENIConfig name; 404 without an API server
//
// /v1/enis is a JSON object keyed by network card number:
//
//	{"0": {"TotalIPs": 18, "AssignedIPs": 2, "ENIs": {"eni-…": {
//	    "ID": "eni-…", "IsPrimary": true, "IsTrunk": false, "IsEFA": false, "DeviceNumber": 0,
//	    "AvailableIPv4Cidrs": {"10.0.1.5/32": {
//	        "Cidr": {"IP": "10.0.1.5", "Mask": "/////w=="},
//	        "IPAddresses": {"10.0.1.5": {"Address": "10.0.1.5",
//	            "IPAMMetadata": {"k8sPodNamespace": "default", "k8sPodName": "web-1"},
//	            "AssignedTime": "…", "UnassignedTime": "0001-01-01T00:00:00Z"}},
//	        "IsPrefix": false, "AddressFamily": "4"}},
//	    "IPv6Cidrs": {}}}}}
//
// Cidr keeps upstream's encoding of a Go net.IPNet (the mask is base64). As
// upstream since v1.23, container IDs and interface names are not shown:
// the endpoint is unauthenticated on the node. IPAddresses lists the
// addresses a pod holds or that are cooling down after a release (with
// their release time); TotalIPs counts every address of every IPv4 block
// (a /28 counts 16).
//
// Unlike upstream, unknown paths answer 404 instead of the command list,
// so a typo does not look like an answer. Requests are logged at debug
// level. Reads and writes time out after 5 s.
//
// The server reads state through the small StateSource interface, never
// the node service itself, so it can be tested with a literal State.
package introspection
