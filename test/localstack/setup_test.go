package localstack_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/localstack"

	"github.com/vpc-cni/vpc-cni/adapters/ec2"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

const (
	// pinnedImage is the last LocalStack release that runs without an
	// online-activated auth token.
	pinnedImage = "localstack/localstack:4.14.0"
	region      = "us-east-1"
	zone        = "us-east-1a"
)

// suite is the shared LocalStack and fixture, set up once in TestMain.
var suite struct {
	skip     string // non-empty: why every test skips
	endpoint string
	raw      *sdkec2.Client // fixture building: VPCs, subnets, instances
	cloud    *ec2.Client    // the adapter under test
	vpc      string
	subnet   core.SubnetID
	tiny     core.SubnetID // a /28
	instance core.InstanceID
	caps     capabilities
}

// capabilities are what the running LocalStack honours, probed at start.
type capabilities struct {
	ipv4Prefixes     bool // CreateNetworkInterface/AssignPrivateIpAddresses honour Ipv4PrefixCount
	subnetExhaustion bool // a /28 refuses more addresses than it has
	attachmentLimit  bool // an instance refuses more ENIs than its type allows
}

func TestMain(m *testing.M) {
	flag.Parse()
	var cleanup func()
	suite.skip, cleanup = setUp()
	if suite.skip != "" {
		log.Printf("localstack suite: skipping: %s", suite.skip)
	}
	code := m.Run()
	if cleanup != nil {
		cleanup()
	}
	os.Exit(code)
}

// need skips the test when the suite could not start.
func need(t *testing.T) {
	t.Helper()
	if suite.skip != "" {
		t.Skip(suite.skip)
	}
}

func setUp() (skip string, cleanup func()) {
	if testing.Short() {
		return "-short: the LocalStack suite starts a container", nil
	}
	if v := os.Getenv("VPC_CNI_SKIP_LOCALSTACK"); v != "" {
		return "VPC_CNI_SKIP_LOCALSTACK is set", nil
	}
	image := os.Getenv("LOCALSTACK_IMAGE")
	if image == "" {
		image = pinnedImage
	}
	token := os.Getenv("LOCALSTACK_AUTH_TOKEN")
	if token == "" && !freeImage(image) {
		return fmt.Sprintf("image %s needs LOCALSTACK_AUTH_TOKEN (releases from 2026.3.0 require an activated token; %s is the last free one)", image, pinnedImage), nil
	}
	if err := probeDocker(); err != nil {
		return fmt.Sprintf("no Docker engine reachable: %v", err), nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := map[string]string{"SERVICES": "ec2"}
	if token != "" {
		env["LOCALSTACK_AUTH_TOKEN"] = token
	}
	ctr, err := localstack.Run(ctx, image, testcontainers.WithEnv(env))
	cleanup = func() {
		if err := testcontainers.TerminateContainer(ctr); err != nil {
			log.Printf("localstack suite: terminate container: %v", err)
		}
	}
	if err != nil {
		return fmt.Sprintf("start %s: %v", image, err), cleanup
	}
	suite.endpoint, err = ctr.PortEndpoint(ctx, "4566/tcp", "http")
	if err != nil {
		return fmt.Sprintf("find the LocalStack port: %v", err), cleanup
	}
	if err := buildFixture(ctx); err != nil {
		return fmt.Sprintf("build the fixture in LocalStack: %v", err), cleanup
	}
	suite.caps = probeCapabilities(ctx)
	log.Printf("localstack suite: %s at %s, capabilities %+v", image, suite.endpoint, suite.caps)
	return "", cleanup
}

// freeImage reports whether the image tag is a release that runs without
// an auth token: a numbered release before the 2026.x calendar versions.
// Floating tags (latest, stable) point at token-only releases.
func freeImage(image string) bool {
	_, tag, ok := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
	if !ok {
		return false
	}
	major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(tag, "v"), ".", 2)[0])
	return err == nil && major < 2026
}

// probeDocker checks, within a few seconds, that a Docker engine answers
// /_ping on DOCKER_HOST or one of the usual sockets.
func probeDocker() error {
	var candidates []string
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		candidates = []string{h}
	} else {
		candidates = []string{"unix:///var/run/docker.sock"}
		if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
			candidates = append(candidates, "unix://"+filepath.Join(d, "docker.sock"))
		}
		if home, err := os.UserHomeDir(); err == nil {
			candidates = append(candidates, "unix://"+filepath.Join(home, ".docker", "run", "docker.sock"))
		}
	}
	var errs []error
	for _, c := range candidates {
		err := ping(c)
		if err == nil {
			if os.Getenv("DOCKER_HOST") == "" && c != candidates[0] {
				os.Setenv("DOCKER_HOST", c) // tell testcontainers which one answered
			}
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c, err))
	}
	return errors.Join(errs...)
}

func ping(host string) error {
	u, err := url.Parse(host)
	if err != nil {
		return err
	}
	var network, addr string
	switch u.Scheme {
	case "unix":
		network, addr = "unix", u.Path
		if _, err := os.Stat(addr); err != nil {
			return err
		}
	case "tcp":
		network, addr = "tcp", u.Host
	default:
		return fmt.Errorf("scheme %q is not probed (use unix:// or tcp://)", u.Scheme)
	}
	conn, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		return err
	}
	if _, err := fmt.Fprint(conn, "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n"); err != nil {
		return err
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read /_ping answer: %w", err)
	}
	if !strings.Contains(status, " 200 ") {
		return fmt.Errorf("/_ping answered %q", strings.TrimSpace(status))
	}
	return nil
}

var dummyCredentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "localstack"}, nil
})

func buildFixture(ctx context.Context) error {
	suite.raw = sdkec2.New(sdkec2.Options{
		Region:       region,
		BaseEndpoint: aws.String(suite.endpoint),
		Credentials:  dummyCredentials,
	})
	var err error
	suite.cloud, err = ec2.New(ec2.Config{Region: region, Endpoint: suite.endpoint, Credentials: dummyCredentials, MaxAttempts: 2}, nil)
	if err != nil {
		return err
	}
	vpc, err := suite.raw.CreateVpc(ctx, &sdkec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		return fmt.Errorf("create VPC: %w", err)
	}
	suite.vpc = aws.ToString(vpc.Vpc.VpcId)
	for _, s := range []struct {
		cidr string
		dst  *core.SubnetID
	}{{"10.20.0.0/20", &suite.subnet}, {"10.20.16.0/28", &suite.tiny}} {
		out, err := suite.raw.CreateSubnet(ctx, &sdkec2.CreateSubnetInput{VpcId: aws.String(suite.vpc), CidrBlock: aws.String(s.cidr), AvailabilityZone: aws.String(zone)})
		if err != nil {
			return fmt.Errorf("create subnet %s: %w", s.cidr, err)
		}
		*s.dst = core.SubnetID(aws.ToString(out.Subnet.SubnetId))
	}
	images, err := suite.raw.DescribeImages(ctx, &sdkec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		return fmt.Errorf("find an image to launch (%d images): %v", len(imagesOf(images)), err)
	}
	run, err := suite.raw.RunInstances(ctx, &sdkec2.RunInstancesInput{
		ImageId: images.Images[0].ImageId, InstanceType: types.InstanceTypeT3Small,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1), SubnetId: aws.String(string(suite.subnet)),
	})
	if err != nil {
		return fmt.Errorf("run an instance: %w", err)
	}
	suite.instance = core.InstanceID(aws.ToString(run.Instances[0].InstanceId))
	return nil
}

func imagesOf(out *sdkec2.DescribeImagesOutput) []types.Image {
	if out == nil {
		return nil
	}
	return out.Images
}

// probeCapabilities asks the running LocalStack what it enforces; the
// probes clean up after themselves (best effort).
func probeCapabilities(ctx context.Context) capabilities {
	var caps capabilities
	c := suite.cloud
	if e, err := c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: suite.subnet, IPv4Prefixes: 1}); err == nil {
		caps.ipv4Prefixes = len(e.IPv4Prefixes) == 1
		_ = c.DeleteENI(ctx, e.ID)
	}
	// A /28 has 11 usable addresses in AWS (5 reserved).
	if e, err := c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: suite.tiny, SecondaryIPs: 14}); err != nil {
		caps.subnetExhaustion = errors.Is(err, core.ErrSubnetFull)
	} else {
		_ = c.DeleteENI(ctx, e.ID)
	}
	// t3.small takes 3 ENIs: the primary plus devices 1 and 2.
	var made []core.ENIID
	var attachments []string
	for device := 1; device <= 3; device++ {
		e, err := c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: suite.subnet})
		if err != nil {
			break
		}
		made = append(made, e.ID)
		att, err := c.AttachENI(ctx, e.ID, suite.instance, device, 0)
		if err != nil {
			caps.attachmentLimit = device == 3 && errors.Is(err, core.ErrAttachmentLimit)
			break
		}
		attachments = append(attachments, att)
	}
	for _, a := range attachments {
		_ = c.DetachENI(ctx, a, true)
	}
	for _, id := range made {
		_ = c.DeleteENI(ctx, id)
	}
	return caps
}
