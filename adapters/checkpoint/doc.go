// Package checkpoint stores the node's IP allocations in a JSON file, so
// that pods keep their addresses when the agent restarts. It implements
// ports.Checkpoint.
//
// # Why this format
//
// The file is the one the upstream Amazon VPC CNI keeps at
// /var/run/aws-node/ipam.json, so a node can switch from upstream to this
// implementation, and back, without losing a single assignment:
//
//		{"version":"vpc-cni-ipam/1",
//		 "allocations":[{"networkName":"aws-cni","containerID":"…","ifName":"eth0",
//		                 "ipv4":"10.0.1.2","allocationTimestamp":1795275761267089447,
//		                 "metadata":{"k8sPodNamespace":"default","k8sPodName":"pod2","interfacesCount":1}}],
//		 "cooldowns":[{"ipv4":"10.0.1.9","releasedAt":1795275761267089447}]}
//
//	  - version must be exactly "vpc-cni-ipam/1".
//	  - each allocation carries the CNI key (network name, container ID,
//	    interface name), exactly one of "ipv4" or "ipv6", the assignment time
//	    in Unix nanoseconds and the pod's namespace and name. We always write
//	    interfacesCount 1 (one allocation per pod interface) and ignore the
//	    value on read. An entry that carries both ipv4 and ipv6 is read as two
//	    allocations with the same key.
//	  - "cooldowns" is our extension: addresses released recently, with the
//	    release time in Unix nanoseconds, so a restart does not hand a just
//	    freed address to a new pod (upstream loses this, issue #1127). Upstream
//	    ignores unknown fields, so it reads our file fine; when it rewrites the
//	    file the cooldowns are gone, which only means the node forgets them.
//	    The field is omitted when there is nothing cooling, and the file is then
//	    byte-for-byte what upstream would write for the same allocations.
//	  - timestamps of zero mean "unknown".
//
// # Cost per write
//
// ipamd writes the file before it answers every ADD and DEL, so the
// encoding is incremental: a pod's entry does not change while the pod
// exists, and each File keeps the encoded entries of its last Save and
// encodes only the new ones (BenchmarkEncode250: about a tenth of
// encoding/json over a 250-pod snapshot). The bytes are the same as
// encoding/json's; TestIncrementalEncodeMatchesJSON compares them over a
// randomised node history.
//
// # Durability
//
// Save encodes the snapshot, writes it to a temporary file next to the
// target (named <file>.tmp<random>, as upstream does), fsyncs it, renames it
// over the target and fsyncs the directory, so after a crash the file holds
// either the old or the new snapshot, never a mix. The directory is created
// (mode 0755) when missing. The file gets mode 0600, as upstream's (its temp
// file is created 0600 and renamed into place): it names every pod on the
// node and nothing but the agent needs to read it.
//
// # Damaged files
//
// A missing file is a fresh node: Load returns an empty snapshot and no
// error. A file that cannot be read, is not JSON, or has another version is
// renamed to <file>.corrupt-<unix-nanoseconds> and Load returns an error
// wrapping core.ErrCorruptCheckpoint that names both paths and the problem.
// The node then starts from cloud state alone, and the next Save writes a
// fresh file; the damaged one stays for an operator to inspect (delete it
// when done). Single entries with an unusable address are skipped rather
// than failing the whole load; LastLoadReport says how many and why.
// Temporary files left by a crash during Save are ignored by Load and
// removed once they are older than a minute.
package checkpoint
