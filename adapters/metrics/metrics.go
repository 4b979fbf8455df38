package metrics

import (
	"context"
	"fmt"
	"github.com/vpc-cni/vpc-cni/adapters/httpserve"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

var _ ports.CNIRequestObserver = (*Metrics)(nil)

// DefaultAddress is where upstream serves metrics: every interface, port
// 61678.
const DefaultAddress = ":61678"

// Path is the scrape path.
const Path = "/metrics"

// Config configures Metrics.
type Config struct {
	// Address is host:port to listen on; DefaultAddress when empty.
	Address string
	// Version labels awscni_build_info.
	Version string
	// GoVersion labels awscni_build_info; runtime.Version() when empty.
	GoVersion string
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
}

// Stats is the pool as metrics report it. Counts are current values;
// Reconciles, Errors and ForceRemoved* are running totals since start.
type Stats struct {
	ENIs    int
	MaxENIs int
	// MaxIPs is the most pod addresses the instance can hold.
	MaxIPs       int
	TotalIPs     int
	AssignedIPs  int
	CooldownIPs  int
	IPv4Prefixes int
	// AssignedPerENI counts assigned addresses by ENI.
	AssignedPerENI map[core.ENIID]int
	// Reconciles and Errors are totals by function name (the fn label).
	Reconciles map[string]int
	Errors     map[string]int
	// ForceRemovedENIs / IPs count ENIs and addresses removed while pods
	// still held addresses on them.
	ForceRemovedENIs int
	ForceRemovedIPs  int
}

// Metrics is the registry and its HTTP server.
type Metrics struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry

	addReqs   prometheus.Counter
	noAddress prometheus.Counter
	delReqs   *prometheus.CounterVec
	startup   *prometheus.HistogramVec

	pool *poolCollector

	// http serves Path with 5 s timeouts.
	http *httpserve.Server
}

// New registers every metric. It does not listen; Start does.
func New(cfg Config) (*Metrics, error) {
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	if cfg.GoVersion == "" {
		cfg.GoVersion = runtime.Version()
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Metrics{
		cfg:  cfg,
		log:  log,
		http: httpserve.New("metrics", 5*time.Second, log),
		reg:  prometheus.NewRegistry(),
		addReqs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "awscni_add_ip_req_count", Help: "AddNetwork requests received from the CNI plugin.",
		}),
		noAddress: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "awscni_no_available_ip_addresses", Help: "AddNetwork requests that failed because no address was available.",
		}),
		delReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "awscni_del_ip_req_count", Help: "DelNetwork requests received from the CNI plugin, by reason.",
		}, []string{"reason"}),
		startup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "awscni_ipamd_startup_duration_seconds", Help: "Time from process start until ipamd was ready to serve CNI requests.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"success", "with_api_server", "failure_reason"}),
		pool: newPoolCollector(),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "awscni_build_info", Help: "Build of the running agent; always 1.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(cfg.Version, cfg.GoVersion).Set(1)
	for _, c := range []prometheus.Collector{
		m.addReqs, m.noAddress, m.delReqs, m.startup, build, m.pool,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// Registry returns the registry, for tests and embedding.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slogErrorLog{m.log}})
}

// Update replaces the pool numbers reported at the next scrape.
func (m *Metrics) Update(s Stats) { m.pool.set(s) }

// AddRequest counts one AddNetwork.
func (m *Metrics) AddRequest() { m.addReqs.Inc() }

// NoAddress counts one AddNetwork that found no address.
func (m *Metrics) NoAddress() { m.noAddress.Inc() }

// DelRequest counts one DelNetwork with the plugin's reason.
func (m *Metrics) DelRequest(reason string) { m.delReqs.WithLabelValues(reason).Inc() }

// StartupDone records how long start-up took. failureReason is empty on
// success.
func (m *Metrics) StartupDone(d time.Duration, success bool, failureReason string) {
	m.startup.WithLabelValues(strconv.FormatBool(success), "false", failureReason).Observe(d.Seconds())
}

// Start listens on Config.Address and serves Path in the background.
func (m *Metrics) Start() error {
	ln, err := net.Listen("tcp", m.cfg.Address)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", m.cfg.Address, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, m.Handler())
	return m.http.Start(ln, mux)
}

// Addr is the address the server listens on (nil before Start).
func (m *Metrics) Addr() net.Addr { return m.http.Addr() }

// Stop shuts the server down, waiting for scrapes in flight until ctx ends.
func (m *Metrics) Stop(ctx context.Context) error { return m.http.Stop(ctx) }

// poolCollector reports the latest Stats as constant metrics.
type poolCollector struct {
	mu sync.Mutex
	s  Stats

	enis, eniMax, ipMax, total, assigned, cooling, prefixes *prometheus.Desc
	perENI, reconciles, errors, forcedENIs, forcedIPs       *prometheus.Desc
}

func newPoolCollector() *poolCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &poolCollector{
		enis:       d("awscni_eni_allocated", "ENIs attached to the instance and managed by ipamd."),
		eniMax:     d("awscni_eni_max", "Most ENIs ipamd may attach to this instance."),
		ipMax:      d("awscni_ip_max", "Most pod addresses this instance can hold."),
		total:      d("awscni_total_ip_addresses", "Pod addresses in the pool."),
		assigned:   d("awscni_assigned_ip_addresses", "Pool addresses assigned to pods."),
		cooling:    d("awscni_cooldown_ip_addresses", "Pool addresses released recently and not yet reusable."),
		prefixes:   d("awscni_total_ipv4_prefixes", "IPv4 /28 prefixes in the pool."),
		perENI:     d("awscni_assigned_ip_per_eni", "Addresses assigned to pods, by ENI.", "eni"),
		reconciles: d("awscni_reconcile_count", "Reconciliations of the pool with the cloud, by function.", "fn"),
		errors:     d("awscni_ipamd_error_count", "Errors met by ipamd, by function.", "fn"),
		forcedENIs: d("awscni_force_removed_enis", "ENIs removed from the pool while pods held addresses on them."),
		forcedIPs:  d("awscni_force_removed_ips", "Addresses removed from the pool while pods held them."),
	}
}

func (c *poolCollector) set(s Stats) {
	c.mu.Lock()
	c.s = s
	c.mu.Unlock()
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.enis, c.eniMax, c.ipMax, c.total, c.assigned, c.cooling, c.prefixes,
		c.perENI, c.reconciles, c.errors, c.forcedENIs, c.forcedIPs} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.s
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.enis, s.ENIs)
	gauge(c.eniMax, s.MaxENIs)
	gauge(c.ipMax, s.MaxIPs)
	gauge(c.total, s.TotalIPs)
	gauge(c.assigned, s.AssignedIPs)
	gauge(c.cooling, s.CooldownIPs)
	gauge(c.prefixes, s.IPv4Prefixes)
	counter(c.forcedENIs, s.ForceRemovedENIs)
	counter(c.forcedIPs, s.ForceRemovedIPs)
	for _, id := range sortedKeys(s.AssignedPerENI) {
		gauge(c.perENI, s.AssignedPerENI[id], string(id))
	}
	for _, fn := range sortedKeys(s.Reconciles) {
		counter(c.reconciles, s.Reconciles[fn], fn)
	}
	for _, fn := range sortedKeys(s.Errors) {
		counter(c.errors, s.Errors[fn], fn)
	}
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// slogErrorLog adapts slog to promhttp's error logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Error("serve metrics", "error", fmt.Sprint(v...)) }
