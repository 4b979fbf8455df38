package introspection

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleState() State {
	a := netip.MustParseAddr
	return State{
		ENIs: []datastore.ENIView{
			{ENIInfo: datastore.ENIInfo{ID: "eni-primary", DeviceNumber: 0, Primary: true},
				IPs: []netip.Addr{a("10.0.0.11"), a("10.0.0.12")}},
			{ENIInfo: datastore.ENIInfo{ID: "eni-second", DeviceNumber: 1},
				Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.1.16/28")}},
		},
		Assignments: []datastore.Assignment{
			{Key: core.PodKey{NetworkName: "aws-cni", ContainerID: "secret-container", IfName: "eth0"},
				Pod: core.PodRef{Namespace: "default", Name: "web-1"}, Addr: a("10.0.1.17"), ENI: "eni-second", DeviceNumber: 1, RouteTable: 2, AssignedAt: t0},
			{Key: core.PodKey{NetworkName: "aws-cni", ContainerID: "other-container", IfName: "eth0"},
				Pod: core.PodRef{Namespace: "kube-system", Name: "dns"}, Addr: a("10.0.0.11"), ENI: "eni-primary", RouteTable: 254, AssignedAt: t0.Add(time.Second)},
		},
		Cooldowns: []core.Cooldown{{Addr: a("10.0.0.12"), ReleasedAt: t0.Add(2 * time.Second)}},
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func indent(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		t.Fatalf("not JSON: %v: %s", err, s)
	}
	return b.String()
}

func newServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg, StateFunc(sampleState))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestENIs(t *testing.T) {
	s := newServer(t, Config{})
	code, body := get(t, s.Handler(), "/v1/enis")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	want := `{
  "0": {
    "TotalIPs": 18,
    "AssignedIPs": 2,
    "ENIs": {
      "eni-primary": {
        "ID": "eni-primary",
        "IsPrimary": true,
        "IsTrunk": false,
        "IsEFA": false,
        "DeviceNumber": 0,
        "AvailableIPv4Cidrs": {
          "10.0.0.11/32": {
            "Cidr": {
              "IP": "10.0.0.11",
              "Mask": "/////w=="
            },
            "IPAddresses": {
              "10.0.0.11": {
                "Address": "10.0.0.11",
                "IPAMMetadata": {
                  "k8sPodNamespace": "kube-system",
                  "k8sPodName": "dns"
                },
                "AssignedTime": "2025-03-01T12:00:01Z",
                "UnassignedTime": "0001-01-01T00:00:00Z"
              }
            },
            "IsPrefix": false,
            "AddressFamily": "4"
          },
          "10.0.0.12/32": {
            "Cidr": {
              "IP": "10.0.0.12",
              "Mask": "/////w=="
            },
            "IPAddresses": {
              "10.0.0.12": {
                "Address": "10.0.0.12",
                "IPAMMetadata": {},
                "AssignedTime": "0001-01-01T00:00:00Z",
                "UnassignedTime": "2025-03-01T12:00:02Z"
              }
            },
            "IsPrefix": false,
            "AddressFamily": "4"
          }
        },
        "IPv6Cidrs": {}
      },
      "eni-second": {
        "ID": "eni-second",
        "IsPrimary": false,
        "IsTrunk": false,
        "IsEFA": false,
        "DeviceNumber": 1,
        "AvailableIPv4Cidrs": {
          "10.0.1.16/28": {
            "Cidr": {
              "IP": "10.0.1.16",
              "Mask": "////8A=="
            },
            "IPAddresses": {
              "10.0.1.17": {
                "Address": "10.0.1.17",
                "IPAMMetadata": {
                  "k8sPodNamespace": "default",
                  "k8sPodName": "web-1"
                },
                "AssignedTime": "2025-03-01T12:00:00Z",
                "UnassignedTime": "0001-01-01T00:00:00Z"
              }
            },
            "IsPrefix": true,
            "AddressFamily": "4"
          }
        },
        "IPv6Cidrs": {}
      }
    }
  }
}`
	if got := indent(t, body); got != want {
		t.Errorf("/v1/enis\n got:\n%s\nwant:\n%s", got, want)
	}
	if bytes.Contains([]byte(body), []byte("container")) {
		t.Errorf("/v1/enis leaks container IDs: %s", body)
	}
}

func TestPods(t *testing.T) {
	s := newServer(t, Config{})
	code, body := get(t, s.Handler(), "/v1/pods")
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	want := `[{"PodNamespace":"kube-system","PodName":"dns","IP":"10.0.0.11","ENI":"eni-primary","DeviceNumber":0,"RouteTable":254,"AssignedTime":"2025-03-01T12:00:01Z"},` +
		`{"PodNamespace":"default","PodName":"web-1","IP":"10.0.1.17","ENI":"eni-second","DeviceNumber":1,"RouteTable":2,"AssignedTime":"2025-03-01T12:00:00Z"}]`
	if body != want {
		t.Errorf("/v1/pods\n got: %s\nwant: %s", body, want)
	}
	empty, err := New(Config{}, StateFunc(func() State { return State{} }))
	if err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, empty.Handler(), "/v1/pods"); body != "[]" {
		t.Errorf("/v1/pods with no pods = %s, want []", body)
	}
	if _, body := get(t, empty.Handler(), "/v1/enis"); body != "{}" {
		t.Errorf("/v1/enis with no ENIs = %s, want {}", body)
	}
}

func TestOtherPaths(t *testing.T) {
	s := newServer(t, Config{
		NetworkSettings: map[string]any{"AWS_VPC_ENI_MTU": 9001, "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": []string(nil)},
		IPAMDSettings:   map[string]any{"WARM_ENI_TARGET": 1},
	})
	withENIConfig := newServer(t, Config{ENIConfigName: func(context.Context) (string, error) { return "us-west-2a", nil }})
	tests := []struct {
		name     string
		h        http.Handler
		path     string
		wantCode int
		wantBody string
	}{
		{"root", s.Handler(), "/", 200, `{"AvailableCommands":["/v1/enis","/v1/pods","/v1/eni-configs","/v1/networkutils-env-settings","/v1/ipamd-env-settings"]}`},
		{"network settings", s.Handler(), "/v1/networkutils-env-settings", 200, `{"AWS_VPC_ENI_MTU":9001,"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":null}`},
		{"ipamd settings", s.Handler(), "/v1/ipamd-env-settings", 200, `{"WARM_ENI_TARGET":1}`},
		{"eni-configs without API server", s.Handler(), "/v1/eni-configs", 404, "ENIConfig of this node: no API server\n"},
		{"eni-configs", withENIConfig.Handler(), "/v1/eni-configs", 200, `"us-west-2a"`},
		{"unknown path", s.Handler(), "/v1/nope", 404, "404 page not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.h, tc.path)
			if code != tc.wantCode || body != tc.wantBody {
				t.Errorf("GET %s = %d %q, want %d %q", tc.path, code, body, tc.wantCode, tc.wantBody)
			}
		})
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/enis", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/enis = %d, want 405", rec.Code)
	}
}

func TestServeOnUnixSocketAndTCP(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "introspect.sock")
	for _, addr := range []string{"unix:" + sock, "127.0.0.1:0"} {
		t.Run(addr, func(t *testing.T) {
			s := newServer(t, Config{Address: addr})
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := s.Stop(context.Background()); err != nil {
					t.Error(err)
				}
			})
			network, target := "tcp", s.Addr().String()
			if addr != "127.0.0.1:0" {
				network, target = "unix", sock
			}
			client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, target)
			}}}
			resp, err := client.Get("http://introspection/v1/pods")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"web-1"`)) {
				t.Errorf("GET /v1/pods over %s = %d %s", network, resp.StatusCode, b)
			}
		})
	}
}

func TestNewRejectsNilSource(t *testing.T) {
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New with nil source succeeded")
	}
	s := newServer(t, Config{Address: "unix:relative.sock"})
	if err := s.Start(); err == nil {
		t.Error("Start with a relative socket path succeeded")
	}
}
