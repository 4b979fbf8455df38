package ec2

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Upstream-compatible metric names (the CloudWatch metrics helper and
// existing dashboards read them).
const (
	MetricAPILatency     = "awscni_aws_api_latency_ms"
	MetricAPIErrors      = "awscni_aws_api_error_count"
	MetricEC2Requests    = "awscni_ec2api_req_count"
	MetricEC2RequestErrs = "awscni_ec2api_error_count"
)

// PrometheusObserver is an Observer exporting the upstream awscni_* EC2
// API metrics:
//
//   - awscni_aws_api_latency_ms{api,error,status}: summary of call latency
//     in milliseconds; error is "true" or "false", status the HTTP status
//     ("200" on success, "0" when no response arrived);
//   - awscni_aws_api_error_count{api,error}: failed calls by EC2 error code;
//   - awscni_ec2api_req_count{fn}: calls per operation;
//   - awscni_ec2api_error_count{fn}: failed calls per operation.
type PrometheusObserver struct {
	latency   *prometheus.SummaryVec
	apiErrors *prometheus.CounterVec
	requests  *prometheus.CounterVec
	reqErrors *prometheus.CounterVec
}

var _ Observer = (*PrometheusObserver)(nil)

// NewPrometheusObserver creates the metrics and registers them with reg.
func NewPrometheusObserver(reg prometheus.Registerer) (*PrometheusObserver, error) {
	o := &PrometheusObserver{
		latency: prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name: MetricAPILatency,
			Help: "Latency of EC2 API calls in milliseconds, by operation, failure and HTTP status.",
		}, []string{"api", "error", "status"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAPIErrors,
			Help: "Failed EC2 API calls by operation and EC2 error code.",
		}, []string{"api", "error"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEC2Requests,
			Help: "EC2 API calls by operation.",
		}, []string{"fn"}),
		reqErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricEC2RequestErrs,
			Help: "Failed EC2 API calls by operation.",
		}, []string{"fn"}),
	}
	for _, c := range []prometheus.Collector{o.latency, o.apiErrors, o.requests, o.reqErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register EC2 API metrics: %w", err)
		}
	}
	return o, nil
}

// ObserveCall records one call.
func (o *PrometheusObserver) ObserveCall(op string, d time.Duration, err error) {
	failed := err != nil
	o.latency.WithLabelValues(op, strconv.FormatBool(failed), httpStatus(err)).Observe(float64(d) / float64(time.Millisecond))
	o.requests.WithLabelValues(op).Inc()
	if failed {
		o.apiErrors.WithLabelValues(op, errorLabel(err)).Inc()
		o.reqErrors.WithLabelValues(op).Inc()
	}
}
