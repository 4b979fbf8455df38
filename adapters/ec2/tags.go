package ec2

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vpc-cni/vpc-cni/core"
)

// EC2 tag limits.
const (
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// ValidateExtraTags checks operator-supplied ENI tags (ADDITIONAL_ENI_TAGS)
// before they are sent to EC2. It keeps the acceptable ones and names each
// rejected key with the reason, in key order:
//
//   - keys containing core.TagReservedSubstring ("k8s.amazonaws.com") are
//     the CNI's own (instance_id, createdAt, no_manage, cluster name); an
//     operator's value would confuse ownership and leak cleanup;
//   - keys starting with "aws:" are reserved by AWS and EC2 rejects them;
//   - empty keys, keys over 128 or values over 256 characters break EC2's
//     limits and would fail every CreateNetworkInterface.
//
// app/config already drops reserved keys when it parses the variable; this
// is the guard at the adapter, for any other caller.
func ValidateExtraTags(tags map[string]string) (kept map[string]string, rejected []string) {
	kept = make(map[string]string, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		v := tags[k]
		var reason string
		switch {
		case strings.TrimSpace(k) == "":
			reason = "empty key"
		case strings.Contains(k, core.TagReservedSubstring):
			reason = fmt.Sprintf("keys containing %q are reserved for the CNI", core.TagReservedSubstring)
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			reason = `keys starting with "aws:" are reserved by AWS`
		case utf8.RuneCountInString(k) > maxTagKeyLen:
			reason = fmt.Sprintf("key longer than %d characters", maxTagKeyLen)
		case utf8.RuneCountInString(v) > maxTagValueLen:
			reason = fmt.Sprintf("value longer than %d characters", maxTagValueLen)
		}
		if reason != "" {
			rejected = append(rejected, fmt.Sprintf("%q: %s", k, reason))
			continue
		}
		kept[k] = v
	}
	return kept, rejected
}
