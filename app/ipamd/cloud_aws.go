package ipamd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/ec2"
	"github.com/vpc-cni/vpc-cni/adapters/emulator"
	"github.com/vpc-cni/vpc-cni/adapters/imds"
	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/ports"
)

// regionLookupTimeout bounds asking instance metadata for the region.
const regionLookupTimeout = 30 * time.Second

// ec2Config is the EC2 client configuration from the environment.
func ec2Config(env config.Env) ec2.Config {
	ua := env.VPCCNIVersion
	if ua == "" {
		ua = version.Get()
	}
	return ec2.Config{Region: env.AWSRegion, Endpoint: env.EC2Endpoint, HTTPTimeout: env.HTTPTimeout, UserAgent: "vpc-cni/" + ua}
}

// stackEC2 builds the EC2 client and wraps it in the rate limiter,
// coalescer and API metrics (awscni_aws_api_* in the agent's registry).
func stackEC2(cfg ec2.Config, m *metrics.Metrics, log *slog.Logger) (ports.Cloud, error) {
	client, err := ec2.New(cfg, log.With("component", "ec2"))
	if err != nil {
		return nil, fmt.Errorf("build EC2 client: %w", err)
	}
	obs, err := ec2.NewPrometheusObserver(m.Registry())
	if err != nil {
		return nil, err
	}
	return ec2.Stack(client, cfg, obs)
}

// newAWSCloud talks to the real EC2 API and instance metadata service.
// The region is AWS_REGION, else the instance identity's (one metadata
// read at construction). AWS_EC2_METADATA_SERVICE_ENDPOINT and
// AWS_EC2_ENDPOINT move the two endpoints.
func newAWSCloud(o Options, env config.Env, m *metrics.Metrics, log *slog.Logger) (Cloud, error) {
	// The SDK reads this variable from the process itself; reading it
	// through Options.Lookup as well lets tests and embedders set it.
	endpoint, _ := o.lookup("AWS_EC2_METADATA_SERVICE_ENDPOINT")
	md, err := imds.New(imds.Config{Endpoint: endpoint}, nil, log.With("component", "imds"))
	if err != nil {
		return Cloud{}, fmt.Errorf("build instance metadata client: %w", err)
	}
	cfg := ec2Config(env)
	if cfg.Region == "" {
		ctx, cancel := context.WithTimeout(context.Background(), regionLookupTimeout)
		defer cancel()
		id, err := md.Identity(ctx)
		if err != nil {
			return Cloud{}, fmt.Errorf("find the region (AWS_REGION is unset) from instance metadata: %w", err)
		}
		cfg.Region = id.Region
	}
	cloud, err := stackEC2(cfg, m, log)
	if err != nil {
		return Cloud{}, err
	}
	log.Info("using EC2", "region", cfg.Region, "endpoint", cfg.Endpoint)
	return Cloud{Cloud: cloud, Metadata: md, Clock: memory.RealClock{}}, nil
}

// newEmulatorCloud runs the EC2/IMDS emulator in the process, on loopback
// ports, over a simulated region (--instance-type, --subnet-cidr,
// --vpc-cidr), and talks to it through the real EC2 and metadata clients:
// the full SDK path without an AWS account.
func newEmulatorCloud(lc fx.Lifecycle, o Options, env config.Env, m *metrics.Metrics, log *slog.Logger) (Cloud, error) {
	node, err := emulator.NewNode(emulator.NodeConfig{InstanceType: o.InstanceType, VPCCIDRs: []netip.Prefix{o.VPCCIDR}, SubnetCIDR: o.SubnetCIDR, Seed: 1})
	if err != nil {
		return Cloud{}, fmt.Errorf("--cloud=emulator: %w", err)
	}
	srv, err := emulator.New(emulator.Config{Cloud: node.Cloud, Instance: node.Instance.ID, Log: log.With("component", "emulator")})
	if err != nil {
		return Cloud{}, fmt.Errorf("--cloud=emulator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ec2URL, imdsURL, err := srv.Start(ctx, "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		cancel()
		return Cloud{}, fmt.Errorf("--cloud=emulator: %w", err)
	}
	lc.Append(fx.Hook{OnStop: func(context.Context) error {
		cancel()
		return srv.Close()
	}})
	md, err := imds.New(imds.Config{Endpoint: imdsURL}, nil, log.With("component", "imds"))
	if err != nil {
		return Cloud{}, fmt.Errorf("build instance metadata client: %w", err)
	}
	cfg := ec2Config(env)
	cfg.Region, cfg.Endpoint = node.Cloud.Region(), ec2URL
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AKIDEMULATOR", "emulator-secret", "")
	cloud, err := stackEC2(cfg, m, log)
	if err != nil {
		return Cloud{}, err
	}
	log.Info("emulating EC2", "ec2", ec2URL, "imds", imdsURL, "instance", string(node.Instance.ID), "type", o.InstanceType)
	return Cloud{Cloud: cloud, Metadata: md, Clock: memory.RealClock{}}, nil
}
