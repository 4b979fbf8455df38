package simulate

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// WriteTable prints the result for a person.
func (r Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "instance type\t%s (max %d ENIs, max %d pods)\n", r.InstanceType, r.MaxENIs, r.MaxPods)
	fmt.Fprintf(tw, "virtual time\t%.1f s\n", r.VirtualSeconds)
	fmt.Fprintf(tw, "pods with an address\t%d\n", r.Assigned)
	fmt.Fprintf(tw, "unused addresses\t%d\n", r.UnusedIPs)
	fmt.Fprintf(tw, "pod wait (s)\tp50 %.3f  p99 %.3f  max %.3f\n", r.PodWait.P50, r.PodWait.P99, r.PodWait.Max)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "ENI (device)\tsecondary IPs\t/28 prefixes")
	for i := range r.IPsPerENI {
		fmt.Fprintf(tw, "%d\t%d\t%d\n", i, r.IPsPerENI[i], r.PrefixesPerENI[i])
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "EC2 operation\tcalls")
	ops := make([]string, 0, len(r.EC2Calls))
	for op := range r.EC2Calls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Fprintf(tw, "%s\t%d\n", op, r.EC2Calls[op])
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "pod\twhy it has no address")
		for _, e := range r.Errors {
			fmt.Fprintf(tw, "%s\t%s\n", e.Pod, e.Reason)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(tw, "warning\t%s\n", warn)
	}
	return tw.Flush()
}
