package cloudcontract_test

import (
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vpc-cni/vpc-cni/adapters/cloudcontract"
	"github.com/vpc-cni/vpc-cni/adapters/ec2"
	"github.com/vpc-cni/vpc-cni/adapters/emulator"
)

// TestEC2AdapterOverEmulator runs the suite against the SDK-based EC2
// adapter talking HTTP to the emulator, which serves the same simulated
// region the memory case uses directly. Failing calls are not retried, so
// each case sees exactly the error EC2 (here: the emulator) returned.
func TestEC2AdapterOverEmulator(t *testing.T) {
	cloudcontract.Run(t, func(t *testing.T) cloudcontract.Env {
		cloud, _, env := newRegion(t)
		srv, err := emulator.New(emulator.Config{Cloud: cloud, Instance: env.Instance})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.EC2Handler())
		t.Cleanup(hs.Close)
		client, err := ec2.New(ec2.Config{
			Region:      cloud.Region(),
			Endpoint:    hs.URL,
			Credentials: credentials.NewStaticCredentialsProvider("AKIDCONTRACT", "secret", ""),
			RetryMode:   ec2.RetryStandard,
			MaxAttempts: 1,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Cloud = client
		return env
	})
}
