package metrics

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// scrape returns the awscni_* sample lines of one scrape, in exposition
// order, without HELP/TYPE comments and without histogram buckets.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	return awscniLines(t, rec.Body)
}

func awscniLines(t *testing.T, r io.Reader) string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "awscni_") && !strings.Contains(l, "_bucket{") {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

func TestScrape(t *testing.T) {
	m, err := New(Config{Version: "v1.2.3", GoVersion: "go1.26.8"})
	if err != nil {
		t.Fatal(err)
	}
	want := `awscni_add_ip_req_count 0
awscni_assigned_ip_addresses 0
awscni_build_info{goversion="go1.26.8",version="v1.2.3"} 1
awscni_cooldown_ip_addresses 0
awscni_eni_allocated 0
awscni_eni_max 0
awscni_force_removed_enis 0
awscni_force_removed_ips 0
awscni_ip_max 0
awscni_no_available_ip_addresses 0
awscni_total_ip_addresses 0
awscni_total_ipv4_prefixes 0`
	if got := scrape(t, m.Handler()); got != want {
		t.Errorf("fresh scrape\n got:\n%s\nwant:\n%s", got, want)
	}

	m.Update(Stats{
		ENIs: 2, MaxENIs: 3, MaxIPs: 27, TotalIPs: 18, AssignedIPs: 5, CooldownIPs: 2, IPv4Prefixes: 0,
		AssignedPerENI:  map[core.ENIID]int{"eni-b": 1, "eni-a": 4},
		Reconciles:      map[string]int{"reconcile": 7, "ec2_reconcile": 1},
		Errors:          map[string]int{"cloud": 3},
		ForceRemovedIPs: 1,
	})
	m.AddRequest()
	m.AddRequest()
	m.NoAddress()
	m.DelRequest("PodDeleted")
	m.StartupDone(1500*time.Millisecond, true, "")

	want = `awscni_add_ip_req_count 2
awscni_assigned_ip_addresses 5
awscni_assigned_ip_per_eni{eni="eni-a"} 4
awscni_assigned_ip_per_eni{eni="eni-b"} 1
awscni_build_info{goversion="go1.26.8",version="v1.2.3"} 1
awscni_cooldown_ip_addresses 2
awscni_del_ip_req_count{reason="PodDeleted"} 1
awscni_eni_allocated 2
awscni_eni_max 3
awscni_force_removed_enis 0
awscni_force_removed_ips 1
awscni_ip_max 27
awscni_ipamd_error_count{fn="cloud"} 3
awscni_ipamd_startup_duration_seconds_sum{failure_reason="",success="true",with_api_server="false"} 1.5
awscni_ipamd_startup_duration_seconds_count{failure_reason="",success="true",with_api_server="false"} 1
awscni_no_available_ip_addresses 1
awscni_reconcile_count{fn="ec2_reconcile"} 1
awscni_reconcile_count{fn="reconcile"} 7
awscni_total_ip_addresses 18
awscni_total_ipv4_prefixes 0`
	if got := scrape(t, m.Handler()); got != want {
		t.Errorf("scrape after updates\n got:\n%s\nwant:\n%s", got, want)
	}

	// A later Update replaces the numbers, including dropping ENIs gone.
	m.Update(Stats{ENIs: 1, TotalIPs: 9, AssignedPerENI: map[core.ENIID]int{"eni-a": 2}})
	got := scrape(t, m.Handler())
	if strings.Contains(got, `eni="eni-b"`) || !strings.Contains(got, `awscni_assigned_ip_per_eni{eni="eni-a"} 2`) ||
		!strings.Contains(got, "awscni_total_ip_addresses 9") {
		t.Errorf("scrape after second update:\n%s", got)
	}
}

func TestRegistryIncludesRuntimeCollectors(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"go_goroutines", "awscni_build_info", "awscni_eni_allocated"} {
		if !names[n] {
			t.Errorf("metric %s missing from the registry", n)
		}
	}
}

func TestServe(t *testing.T) {
	m, err := New(Config{Address: "127.0.0.1:0", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	m.Update(Stats{ENIs: 4})
	resp, err := http.Get("http://" + m.Addr().String() + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := awscniLines(t, resp.Body); !strings.Contains(got, "awscni_eni_allocated 4") {
		t.Errorf("served metrics lack awscni_eni_allocated 4:\n%s", got)
	}
	if err := m.Start(); err == nil {
		t.Error("second Start succeeded")
	}
}
