// Command vpc-cni is the operator and developer tool of vpc-cni: it runs
// the node IPAM service on a simulated node (simulate), computes max-pods
// (max-pods), and, as the project grows, brings up local nodes and serves
// an EC2/IMDS emulator.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "vpc-cni:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "vpc-cni",
		Short:         "Tools for the vpc-cni pod network",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newSimulate(), newMaxPods())
	root.AddCommand(newEmulator())
	root.AddCommand(newLocal())
	return root
}
