package ec2

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/vpc-cni/vpc-cni/core"
)

// Retry modes accepted in Config.RetryMode.
const (
	RetryAdaptive = "adaptive"
	RetryStandard = "standard"
)

// Defaults of Config.
const (
	DefaultHTTPTimeout = 10 * time.Second
	DefaultMaxAttempts = 5
	DefaultQPS         = 10
	DefaultBurst       = 20
	DefaultUserAgent   = "vpc-cni"
)

// Config configures the EC2 client and, through Stack, its decorators.
// Zero fields take the defaults above.
type Config struct {
	// Region is the AWS region. Empty: the SDK's (AWS_REGION, shared
	// config); New fails when neither knows one. The agent passes the
	// region from instance metadata.
	Region string
	// Endpoint is AWS_EC2_ENDPOINT: a URL that replaces the EC2 endpoint.
	// It wins over the SDK-standard AWS_ENDPOINT_URL_EC2, which the SDK's
	// configuration loader honours when this is empty.
	Endpoint string
	// HTTPTimeout bounds one HTTP attempt (HTTP_TIMEOUT).
	HTTPTimeout time.Duration
	// UserAgent is appended to the SDK's User-Agent header, as "name" or
	// "name/version".
	UserAgent string
	// RetryMode is RetryAdaptive (default: the SDK's adaptive mode, which
	// also slows down client-side after throttling) or RetryStandard.
	RetryMode string
	// MaxAttempts bounds the SDK's attempts per call, the first included.
	MaxAttempts int
	// QPS and Burst size the per-process token bucket Stack puts in front
	// of the client. QPS < 0 disables it.
	QPS   float64
	Burst int
	// Credentials replaces the SDK's default credential chain (tests,
	// emulators). Nil uses the chain.
	Credentials aws.CredentialsProvider
}

func (c Config) withDefaults() Config {
	if c.HTTPTimeout <= 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.RetryMode == "" {
		c.RetryMode = RetryAdaptive
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.QPS == 0 {
		c.QPS = DefaultQPS
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	return c
}

func (c Config) validate() error {
	if c.RetryMode != RetryAdaptive && c.RetryMode != RetryStandard {
		return fmt.Errorf("ec2 config: retry mode %q is neither %q nor %q: %w", c.RetryMode, RetryAdaptive, RetryStandard, core.ErrInvalidParameter)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("ec2 config: endpoint %q is not an http(s) URL with a host: %w", c.Endpoint, core.ErrInvalidParameter)
		}
	}
	return nil
}

// newRetryer builds the SDK retryer for the configured mode.
func (c Config) newRetryer() aws.Retryer {
	attempts := func(o *retry.StandardOptions) { o.MaxAttempts = c.MaxAttempts }
	if c.RetryMode == RetryStandard {
		return retry.NewStandard(attempts)
	}
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, attempts)
	})
}

// newSDKClient loads the SDK configuration and builds the EC2 client.
func newSDKClient(ctx context.Context, cfg Config) (*ec2.Client, string, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(cfg.HTTPTimeout)),
		config.WithRetryer(cfg.newRetryer),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("load AWS SDK configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, "", fmt.Errorf("ec2 config: no region (set it in the config, AWS_REGION or the shared config file): %w", core.ErrInvalidParameter)
	}
	client := ec2.NewFromConfig(awsCfg, func(o *ec2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		if name, version, ok := strings.Cut(cfg.UserAgent, "/"); ok {
			o.APIOptions = append(o.APIOptions, awsmiddleware.AddUserAgentKeyValue(name, version))
		} else {
			o.APIOptions = append(o.APIOptions, awsmiddleware.AddUserAgentKey(cfg.UserAgent))
		}
	})
	return client, awsCfg.Region, nil
}
