package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/vpc-cni/vpc-cni/app/local"
)

func newLocal() *cobra.Command {
	var (
		cfg      local.Config
		check    bool
		asJSON   bool
		keep     bool
		memory   bool
		verbose  bool
		intro    string
		startErr = errors.New("local run failed its checks")
	)
	cmd := &cobra.Command{
		Use:   "local [--nodes N] [--pods N] [--firewall BACKEND] [--check] [--json]",
		Short: "Bring up simulated nodes with the real ipamd and CNI plugin in network namespaces",
		Long: `local brings up simulated EC2 nodes on this machine and runs the real binaries
on them: each node is a network namespace whose ENIs are veth links into a "VPC"
namespace (with an "internet" namespace behind it); ipamd (aws-k8s-agent) runs in
each node against the EC2/IMDS emulator over HTTP, and pods are added by calling
the aws-cni plugin through libcni, as containerd does.

Without --check it prints the nodes, ENIs, pods and a connectivity check, then
keeps ipamd running with its introspection endpoints at 127.0.0.1:61679 until
interrupted, and removes every namespace it made. With --check it wires the
pods, checks connectivity, tears everything down and prints a report (--json for
one JSON object); it exits 1 when a check failed or something was left behind.

It needs root for namespaces. Without root it runs the memory datapath
(in-process ipamd and plugin logic, no packets) and says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			level := slog.LevelWarn
			if verbose {
				level = slog.LevelInfo
			}
			cfg.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			cfg.KeepWorkDir = keep
			if memory {
				cfg.Mode = local.ModeMemory
			} else if !local.IsRoot() {
				cfg.Mode = local.ModeMemory
				fmt.Fprintln(cmd.ErrOrStderr(), "vpc-cni local: not root, so no network namespaces: running the MEMORY datapath (ipamd and the plugin logic in-process, no packets). Run as root for the real kernel datapath.")
			}
			if cfg.Mode != local.ModeMemory && cfg.BinDir == "" {
				dir, err := defaultBinDir()
				if err != nil {
					return err
				}
				cfg.BinDir = dir
			}
			if check {
				rep, err := local.Run(cmd.Context(), cfg)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if err := enc.Encode(rep); err != nil {
						return err
					}
				} else if err := rep.WriteTable(out); err != nil {
					return err
				}
				if !rep.OK {
					return startErr
				}
				return nil
			}
			return interactive(cmd.Context(), cfg, intro, asJSON, out, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", local.DefaultNodes, fmt.Sprintf("number of nodes (1-%d)", local.MaxNodes))
	f.IntVar(&cfg.Pods, "pods", local.DefaultPods, "pods to add on each node")
	f.StringVar(&cfg.Firewall, "firewall", "auto", "ipamd's firewall backend: auto, iptables-legacy, iptables-nft or nftables")
	f.BoolVar(&cfg.ExternalSNAT, "external-snat", false, "set AWS_VPC_K8S_CNI_EXTERNALSNAT=true (the internet then sees pod addresses)")
	f.StringVar(&cfg.InstanceType, "instance-type", local.DefaultInstanceType, "EC2 instance type of every node")
	f.StringVar(&cfg.BinDir, "bin-dir", "", "directory holding aws-cni and aws-k8s-agent (default: next to this binary)")
	f.IntVar(&cfg.Parallel, "parallel", 1, "CNI ADDs run at once on each node")
	f.StringToStringVar(&cfg.Env, "env", nil, "extra ipamd environment variable NAME=VALUE (repeatable)")
	f.BoolVar(&check, "check", false, "non-interactive: wire the pods, check connectivity, tear down, report")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.BoolVar(&keep, "keep", false, "keep the work directory (logs, checkpoints) after teardown")
	f.BoolVar(&memory, "memory", false, "run the memory datapath even as root")
	f.BoolVar(&verbose, "verbose", false, "log progress to stderr")
	f.StringVar(&intro, "introspection", local.DefaultIntrospectionAddress, "where node 1's introspection is served in interactive mode")
	return cmd
}

// interactive brings the nodes up, prints them, and serves introspection
// until ctx ends (SIGINT, SIGTERM); then it tears everything down.
func interactive(ctx context.Context, cfg local.Config, intro string, asJSON bool, out, errOut io.Writer) error {
	// One interactive run at a time owns the fixed namespace names; a run
	// that crashed left them behind, so remove them first.
	if cfg.RunID == "" {
		cfg.RunID = "local"
		cfg.RemoveStale = true
	}
	c, err := local.Start(ctx, cfg)
	if err != nil {
		return err
	}
	td := func() error {
		t := c.Close(context.WithoutCancel(ctx))
		for _, f := range t.Failures {
			fmt.Fprintln(errOut, "teardown failure:", f)
		}
		for _, r := range t.Residue {
			fmt.Fprintln(errOut, "residue:", r)
		}
		if len(t.Residue) > 0 || len(t.Failures) > 0 {
			return errors.New("teardown was not clean")
		}
		fmt.Fprintln(out, "torn down: every pod deleted through the CNI, ipamd stopped, namespaces removed, nothing left behind")
		return nil
	}
	c.AddPods(ctx, cfg.Pods)
	rep := c.Report(ctx, true)
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else if err := rep.WriteTable(out); err != nil {
		return errors.Join(err, td())
	}
	if ctx.Err() != nil {
		return td()
	}
	nodes := c.Nodes()
	serveErr := c.ServeIntrospection(ctx, nodes[0], intro, func(a net.Addr) {
		fmt.Fprintf(out, "\nipamd of %s is running; introspection at http://%s (try /v1/enis, /v1/pods). Logs and checkpoints in %s. Interrupt (Ctrl-C) to tear down.\n",
			nodes[0].Name, a, c.WorkDir())
	})
	if serveErr != nil {
		fmt.Fprintln(errOut, "vpc-cni local:", serveErr)
		<-ctx.Done()
	}
	fmt.Fprintln(out, "\ntearing down...")
	return td()
}

// defaultBinDir is the directory of this executable when it holds the
// other binaries (make build puts them together), else bin/.
func defaultBinDir() (string, error) {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	dirs = append(dirs, "bin")
	dir, err := local.FindBinDir(dirs...)
	if err != nil {
		return "", err
	}
	return filepath.Abs(dir)
}
