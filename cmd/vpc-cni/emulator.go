package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpc-cni/vpc-cni/adapters/emulator"
	"github.com/vpc-cni/vpc-cni/core"
)

func newEmulator() *cobra.Command {
	var (
		cfg       emulator.NodeConfig
		ec2Listen string
		imdsListn string
		subnet    string
		subnet6   string
		vpcCIDRs  []string
		latencies []string
		readyFile string
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "emulator --instance-type TYPE [--ec2-listen ADDR] [--imds-listen ADDR] [--json-ready FILE]",
		Short: "Serve an emulated EC2 API and instance metadata service for one node",
		Long: `emulator builds a simulated region (one VPC, one subnet, one running instance of
the given type, with that type's ENI and address limits) and serves it over HTTP
until interrupted: the EC2 Query API on --ec2-listen and the instance's metadata
service (IMDSv2) on --imds-listen, both on loopback. It prints the environment
variables that point the AWS SDKs at it; --json-ready writes the same as JSON
once both listeners accept connections.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.InstanceType == "" {
				return errors.New("--instance-type is required")
			}
			var err error
			if subnet != "" {
				if cfg.SubnetCIDR, err = netip.ParsePrefix(subnet); err != nil {
					return fmt.Errorf("--subnet-cidr %q: %w", subnet, err)
				}
			}
			if subnet6 != "" {
				if cfg.SubnetIPv6CIDR, err = netip.ParsePrefix(subnet6); err != nil {
					return fmt.Errorf("--subnet-ipv6-cidr %q: %w", subnet6, err)
				}
			}
			for _, c := range vpcCIDRs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return fmt.Errorf("--vpc-cidr %q: %w", c, err)
				}
				cfg.VPCCIDRs = append(cfg.VPCCIDRs, p)
			}
			if cfg.Latency, err = parseLatencies(latencies); err != nil {
				return err
			}
			node, err := emulator.NewNode(cfg)
			if errors.Is(err, core.ErrUnknownInstanceType) {
				return fmt.Errorf("--instance-type %q: not a known EC2 instance type (see vpc-cni max-pods)", cfg.InstanceType)
			}
			if err != nil {
				return err
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			srv, err := emulator.New(emulator.Config{Cloud: node.Cloud, Instance: node.Instance.ID, Log: log})
			if err != nil {
				return err
			}
			defer srv.Close()
			ctx := cmd.Context()
			ec2URL, imdsURL, err := srv.Start(ctx, ec2Listen, imdsListn)
			if err != nil {
				return err
			}
			env := emulator.Env(ec2URL, imdsURL, node.Cloud.Region())
			if err := printReady(cmd, node, ec2URL, imdsURL, env); err != nil {
				return err
			}
			if readyFile != "" {
				if err := writeReady(readyFile, node, ec2URL, imdsURL, env); err != nil {
					return err
				}
			}
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.InstanceType, "instance-type", "", "EC2 instance type of the emulated node, e.g. t3.small")
	f.StringVar(&cfg.Region, "region", "us-west-2", "AWS region to report")
	f.StringVar(&ec2Listen, "ec2-listen", "127.0.0.1:1339", "loopback address of the EC2 API (port 0 picks one)")
	f.StringVar(&imdsListn, "imds-listen", "127.0.0.1:1338", "loopback address of the instance metadata service (port 0 picks one)")
	f.StringVar(&subnet, "subnet-cidr", "", "the node's subnet (default 10.0.0.0/24)")
	f.StringVar(&subnet6, "subnet-ipv6-cidr", "", "an IPv6 /64 for the subnet, enabling IPv6 prefixes")
	f.StringArrayVar(&vpcCIDRs, "vpc-cidr", nil, "a VPC IPv4 CIDR (repeatable; default 10.0.0.0/16; one of them must hold the subnet)")
	f.DurationVar(&cfg.IMDSDelay, "imds-delay", 0, "how long instance metadata lags EC2")
	f.StringArrayVar(&latencies, "latency", nil, "EC2 latency Action=duration, e.g. AttachNetworkInterface=2s (repeatable)")
	f.StringVar(&readyFile, "json-ready", "", "write endpoints, instance and environment as JSON to this file once serving")
	f.BoolVar(&verbose, "verbose", false, "log every request")
	return cmd
}

func parseLatencies(kvs []string) (map[string]time.Duration, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := map[string]time.Duration{}
	for _, kv := range kvs {
		op, v, ok := strings.Cut(kv, "=")
		d, err := time.ParseDuration(v)
		if !ok || err != nil || d < 0 {
			return nil, fmt.Errorf("--latency %q: want Action=duration, e.g. AttachNetworkInterface=2s", kv)
		}
		if !slices.Contains(emulator.Actions(), op) {
			return nil, fmt.Errorf("--latency %q: unknown EC2 action %q (known: %s)", kv, op, strings.Join(emulator.Actions(), ", "))
		}
		out[op] = d
	}
	return out, nil
}

func printReady(cmd *cobra.Command, node *emulator.Node, ec2URL, imdsURL string, env []emulator.EnvVar) error {
	in := node.Instance
	var b strings.Builder
	fmt.Fprintf(&b, "EC2 API            %s\n", ec2URL)
	fmt.Fprintf(&b, "instance metadata  %s\n", imdsURL)
	fmt.Fprintf(&b, "instance           %s (%s) in %s, subnet %s (%s), %s\n", in.ID, in.Type, in.AvailabilityZone, node.Subnet.ID, node.Subnet.CIDR, in.VPCID)
	fmt.Fprintf(&b, "primary interface  %s mac %s address %s\n", in.PrimaryENI, in.PrimaryMAC, in.PrimaryIP)
	b.WriteString("\n# environment for clients:\n")
	for _, e := range env {
		fmt.Fprintf(&b, "export %s=%s\n", e.Name, e.Value)
	}
	_, err := fmt.Fprint(cmd.OutOrStdout(), b.String())
	return err
}

// readyInfo is the --json-ready document.
type readyInfo struct {
	EC2URL       string            `json:"ec2_url"`
	IMDSURL      string            `json:"imds_url"`
	Region       string            `json:"region"`
	InstanceID   string            `json:"instance_id"`
	InstanceType string            `json:"instance_type"`
	Zone         string            `json:"availability_zone"`
	VPCID        string            `json:"vpc_id"`
	SubnetID     string            `json:"subnet_id"`
	SubnetCIDR   string            `json:"subnet_cidr"`
	PrimaryENI   string            `json:"primary_eni"`
	PrimaryMAC   string            `json:"primary_mac"`
	PrimaryIP    string            `json:"primary_ip"`
	Env          map[string]string `json:"env"`
}

// writeReady writes the document atomically, so a watcher never reads half.
func writeReady(path string, node *emulator.Node, ec2URL, imdsURL string, env []emulator.EnvVar) error {
	in := node.Instance
	doc := readyInfo{
		EC2URL: ec2URL, IMDSURL: imdsURL, Region: in.Region, InstanceID: string(in.ID), InstanceType: in.Type,
		Zone: in.AvailabilityZone, VPCID: in.VPCID, SubnetID: string(node.Subnet.ID), SubnetCIDR: node.Subnet.CIDR.String(),
		PrimaryENI: string(in.PrimaryENI), PrimaryMAC: in.PrimaryMAC, PrimaryIP: in.PrimaryIP.String(),
		Env: map[string]string{},
	}
	for _, e := range env {
		doc.Env[e.Name] = e.Value
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("--json-ready: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".emulator-ready-*")
	if err != nil {
		return fmt.Errorf("--json-ready: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("--json-ready: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--json-ready: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--json-ready: %w", err)
	}
	return nil
}
