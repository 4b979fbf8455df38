// Package localstack holds an integration suite that runs the real EC2
// adapter (adapters/ec2) and the leaked-ENI collector (service/leakgc)
// against LocalStack's EC2 emulation in a container started with
// testcontainers-go.
//
// It exists to check the adapter's requests and response mapping against
// an independent implementation of the EC2 Query protocol, which the
// adapter's unit tests (canned answers) cannot. The suite starts LocalStack
// only when a Docker engine answers and the image may be run (the pinned,
// free localstack/localstack:4.14.0, or any image with
// LOCALSTACK_AUTH_TOKEN set); otherwise every test skips and says why.
// LocalStack's EC2 (moto) ignores prefix delegation and instance limits,
// so the suite probes what the running LocalStack honours and skips the
// cases it cannot. See docs/localstack.md.
//
// The package has only tests; nothing may import it.
package localstack
