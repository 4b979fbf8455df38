package core

import "errors"

// Sentinel errors of the cloud boundary. Adapters wrap the provider's error
// with one of these (fmt.Errorf("...: %w: %w", core.ErrSubnetFull, err)) so
// the node service can react by kind.
var (
	// ErrSubnetFull: the subnet has no free address for the request
	// (EC2 InsufficientFreeAddressesInSubnet).
	ErrSubnetFull = errors.New("subnet has no free addresses")
	// ErrNoFreePrefix: no contiguous, aligned /28 is free in the subnet
	// (EC2 InsufficientCidrBlocks).
	ErrNoFreePrefix = errors.New("subnet has no free /28 block")
	// ErrAttachmentLimit: the instance cannot take another ENI
	// (EC2 AttachmentLimitExceeded).
	ErrAttachmentLimit = errors.New("instance ENI attachment limit reached")
	// ErrAddressLimit: the ENI cannot take more addresses or prefixes
	// (EC2 PrivateIpAddressLimitExceeded).
	ErrAddressLimit = errors.New("ENI address limit reached")
	// ErrThrottled: the API rate limit was hit (EC2 RequestLimitExceeded).
	ErrThrottled = errors.New("cloud API throttled")
	// ErrUnauthorized: the caller lacks the IAM permission (UnauthorizedOperation).
	ErrUnauthorized = errors.New("not authorized")
	// ErrNotFound: the referenced resource does not exist
	// (InvalidNetworkInterfaceID.NotFound and friends).
	ErrNotFound = errors.New("resource not found")
	// ErrInvalidState: the resource is in the wrong state for the request,
	// for example deleting an attached ENI (InvalidNetworkInterface.InUse).
	ErrInvalidState = errors.New("resource in invalid state")
	// ErrInvalidParameter: the request itself is malformed.
	ErrInvalidParameter = errors.New("invalid parameter")
)

// Sentinel errors of the IP address management domain.
var (
	// ErrNoAvailableAddress: the pool has no free address that is out of cooldown.
	ErrNoAvailableAddress = errors.New("no available IP address")
	// ErrUnknownPod: no allocation exists for the pod key.
	ErrUnknownPod = errors.New("unknown pod")
	// ErrUnknownENI: the ENI is not in the datastore.
	ErrUnknownENI = errors.New("unknown ENI")
	// ErrENIInUse: the ENI still has assigned addresses.
	ErrENIInUse = errors.New("ENI has assigned addresses")
	// ErrAddressInUse: the address is assigned to a pod.
	ErrAddressInUse = errors.New("address is assigned")
	// ErrUnknownAddress: the address is not in the datastore.
	ErrUnknownAddress = errors.New("unknown address")
	// ErrDuplicate: the ENI, address or prefix is already present.
	ErrDuplicate = errors.New("already present")
	// ErrMaxPods: the node already runs as many pods as it may.
	ErrMaxPods = errors.New("node at max pods")
	// ErrUnknownInstanceType: the instance type is not in the limits table.
	ErrUnknownInstanceType = errors.New("unknown instance type")
)

// ErrCorruptCheckpoint: the checkpoint file exists but cannot be read; the
// node starts from cloud state alone and reports it.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")
