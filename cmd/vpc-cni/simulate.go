package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpc-cni/vpc-cni/app/simulate"
)

func newSimulate() *cobra.Command {
	var (
		opts      simulate.Options
		envs      []string
		trace     string
		asJSON    bool
		subnet    string
		vpcCIDRs  []string
		latencies []string
	)
	cmd := &cobra.Command{
		Use:   "simulate --instance-type TYPE [--env K=V]... (--pods N | --trace FILE) [--json]",
		Short: "Run the node IPAM service on a simulated node and virtual clock",
		Long: `simulate runs the same node IPAM code as ipamd against an in-memory EC2 and
instance metadata service, on virtual time. Pods arrive one by one (--pods) or
as a trace of JSON lines {"t": 12.5, "op": "add"|"del", "pod": "ns/name"}.
After the last event the clock runs on until the pool has been stable for ten
virtual minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Env = map[string]string{}
			for _, kv := range envs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--env %q: want NAME=VALUE", kv)
				}
				opts.Env[k] = v
			}
			if trace != "" {
				f, err := os.Open(trace)
				if err != nil {
					return fmt.Errorf("--trace: %w", err)
				}
				defer f.Close()
				evs, err := simulate.ParseTrace(f)
				if err != nil {
					return fmt.Errorf("--trace %s: %w", trace, err)
				}
				opts.Events = evs
				if opts.Events == nil {
					opts.Events = []simulate.Event{}
				}
			}
			if opts.Pods < 0 {
				return fmt.Errorf("--pods %d: want a number ≥ 0", opts.Pods)
			}
			if subnet != "" {
				p, err := netip.ParsePrefix(subnet)
				if err != nil {
					return fmt.Errorf("--subnet-cidr %q: %w", subnet, err)
				}
				opts.SubnetCIDR = p
			}
			for _, c := range vpcCIDRs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return fmt.Errorf("--vpc-cidr %q: %w", c, err)
				}
				opts.VPCCIDRs = append(opts.VPCCIDRs, p)
			}
			if len(latencies) > 0 {
				opts.Latencies = map[string]time.Duration{}
				for _, kv := range latencies {
					op, v, ok := strings.Cut(kv, "=")
					d, err := time.ParseDuration(v)
					if !ok || err != nil || d < 0 {
						return fmt.Errorf("--latency %q: want Operation=duration, e.g. AttachNetworkInterface=2s", kv)
					}
					opts.Latencies[op] = d
				}
			}
			res, err := simulate.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			return res.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.InstanceType, "instance-type", "", "EC2 instance type of the simulated node")
	f.StringArrayVar(&envs, "env", nil, "daemon environment variable NAME=VALUE (repeatable)")
	f.IntVar(&opts.Pods, "pods", 0, "add this many pods one by one, letting the pool settle between arrivals")
	f.StringVar(&trace, "trace", "", "file of JSON-lines events to play instead of --pods")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	f.StringVar(&subnet, "subnet-cidr", "", "the node's subnet (default 10.0.0.0/19)")
	f.StringArrayVar(&vpcCIDRs, "vpc-cidr", nil, "a VPC CIDR (repeatable; default 10.0.0.0/16)")
	f.StringArrayVar(&latencies, "latency", nil, "simulated EC2 latency Operation=duration (repeatable)")
	f.DurationVar(&opts.IMDSDelay, "imds-delay", time.Second, "how long instance metadata lags EC2")
	return cmd
}
