package ipamd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/vpc-cni/vpc-cni/adapters/introspection"
	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/adapters/rpcserver"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// Daemon is one ipamd: built by New, run by Start and Stop (or Run).
type Daemon struct {
	app    *fx.App
	o      Options
	log    *slog.Logger
	logOut io.Closer

	svc     *nodeipam.Service
	rpc     *rpcserver.Server
	intro   *introspection.Server
	metrics *metrics.Metrics
}

// modules is the daemon, in start order: the gRPC socket first (probes
// get NOT_SERVING instead of "no socket" during start-up), then metrics,
// node initialisation, host datapath, introspection, and the loops that
// mark the node ready. Stop runs in the reverse order.
func modules() fx.Option {
	return fx.Options(
		// Constructors only: no lifecycle hooks.
		cloudModule,
		checkpointModule,
		datapathModule,
		firewallModule,
		// Each of these registers its start hook when its invoke runs,
		// and fx runs module invokes in this order.
		grpcModule,
		metricsModule,
		nodeModule,
		hostSetupModule,
		introspectionModule,
		loopsModule,
		leakGCModule,
	)
}

// New reads the environment through o.Lookup, sets up logging and builds
// every adapter o chooses. An invalid variable fails here with the
// configuration error (naming variable, value and accepted values); so
// does an adapter that cannot be built.
func New(o Options) (*Daemon, error) {
	started := time.Now()
	if err := o.validate(); err != nil {
		return nil, err
	}
	lookup := o.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	env, warns, err := config.Parse(lookup)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	notYet, err := unbuilt(env, lookup)
	if err != nil {
		return nil, fmt.Errorf("unsupported configuration: %w", err)
	}
	warns = append(warns, notYet...)
	stdout, stderr := o.Stdout, o.Stderr
	if stdout == nil {
		stdout = os.Stdout
	}
	if stderr == nil {
		stderr = os.Stderr
	}
	log, closer, err := newLogger(env, stdout, stderr)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		log.Warn("configuration", "warning", w)
	}
	log.Info("starting ipamd", "version", version.Get(), "cloud", o.Cloud, "datapath", o.Datapath, "firewall", o.Firewall,
		"socket", o.Socket, "checkpoint", env.BackingStore)

	d := &Daemon{o: o, log: log, logOut: closer}
	d.app = fx.New(
		// fx's own event log is wiring detail; failures come back as
		// errors and are logged by the daemon.
		fx.WithLogger(func() fxevent.Logger { return fxevent.NopLogger }),
		fx.Supply(o, env, log, startedAt(started), &initState{}),
		modules(),
		fx.Populate(&d.svc, &d.rpc, &d.intro, &d.metrics),
	)
	if err := d.app.Err(); err != nil {
		_ = closer.Close()
		return nil, fmt.Errorf("build ipamd: %w", dig.RootCause(err))
	}
	return d, nil
}

// Start brings the daemon up; it returns once the node is ready to serve
// pods, or with the first start-up error (after undoing what started).
func (d *Daemon) Start(ctx context.Context) error {
	if d.o.StartTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.o.StartTimeout)
		defer cancel()
	}
	if err := d.app.Start(ctx); err != nil {
		d.log.Error("start-up failed", "error", err)
		_ = d.logOut.Close()
		return fmt.Errorf("start ipamd: %w", err)
	}
	return nil
}

// Stop stops serving and every loop, within o.StopTimeout.
func (d *Daemon) Stop(ctx context.Context) error {
	if d.o.StopTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.o.StopTimeout)
		defer cancel()
	}
	err := d.app.Stop(ctx)
	if err != nil {
		d.log.Error("shutdown incomplete", "error", err)
	} else {
		d.log.Info("ipamd stopped")
	}
	if cerr := d.logOut.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("stop ipamd: %w", err)
	}
	return nil
}

// Service is the node IPAM service (for tests and embedding).
func (d *Daemon) Service() *nodeipam.Service { return d.svc }

// Socket is the gRPC socket path.
func (d *Daemon) Socket() string { return d.rpc.Socket() }

// MetricsAddr is where metrics are served (nil when disabled or before
// Start).
func (d *Daemon) MetricsAddr() net.Addr { return d.metrics.Addr() }

// IntrospectionAddr is where introspection is served (nil when disabled or
// before Start).
func (d *Daemon) IntrospectionAddr() net.Addr {
	if d.intro == nil {
		return nil
	}
	return d.intro.Addr()
}

// Run starts the daemon, serves until ctx ends, and stops it. A clean stop
// after ctx ends returns nil.
func Run(ctx context.Context, o Options) error {
	d, err := New(o)
	if err != nil {
		return err
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	d.log.Info("shutting down", "reason", context.Cause(ctx).Error())
	return d.Stop(context.Background())
}

// Main is the aws-k8s-agent command: flags from args[1:], environment from
// the process. SIGTERM and SIGINT stop it cleanly (exit 0). It returns the
// exit code.
func Main(args []string) int {
	o, err := ParseFlags(DefaultOptions(), args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aws-k8s-agent:", err)
		return 2
	}
	if o.PrintVersion {
		fmt.Println(version.Get())
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "aws-k8s-agent:", err)
		return 1
	}
	return 0
}
