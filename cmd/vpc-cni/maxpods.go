package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpc-cni/vpc-cni/core/limits"
)

func newMaxPods() *cobra.Command {
	var o limits.MaxPodsOptions
	var instanceType string
	cmd := &cobra.Command{
		Use:   "max-pods --instance-type TYPE [--prefix-delegation] [--custom-networking] [--max-eni N]",
		Short: "Print the kubelet max-pods value for an instance type",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if instanceType == "" {
				return fmt.Errorf("--instance-type is required")
			}
			n, err := limits.MaxPodsByName(instanceType, o)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), n)
			return err
		},
	}
	cmd.Flags().StringVar(&instanceType, "instance-type", "", "EC2 instance type, e.g. m5.large")
	cmd.Flags().BoolVar(&o.PrefixDelegation, "prefix-delegation", false, "prefix delegation (/28 prefixes) is enabled")
	cmd.Flags().BoolVar(&o.CustomNetworking, "custom-networking", false, "custom networking (the primary ENI carries no pods)")
	cmd.Flags().IntVar(&o.MaxENI, "max-eni", 0, "MAX_ENI (0: the instance limit)")
	return cmd
}
