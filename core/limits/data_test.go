package limits

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"testing"
)

// dataSet is the instance-type data set the table is generated from. It
// lives in the shared folder beside the repository, which a plain checkout
// may not have.
const dataSet = "../../../shared/data/instance-types.json"

// jsonType mirrors one entry of the data set. Pointers tell absent fields
// from zero ones.
type jsonType struct {
	BareMetal          bool   `json:"bareMetal"`
	DefaultNetworkCard int    `json:"defaultNetworkCard"`
	EFASupported       *bool  `json:"efaSupported"`
	Hypervisor         string `json:"hypervisor"`
	IPv4PerENI         int    `json:"ipv4PerENI"`
	IPv6PerENI         *int   `json:"ipv6PerENI"`
	IPv6Supported      *bool  `json:"ipv6Supported"`
	MaxENIs            int    `json:"maxENIs"`
	MaxNetworkCards    *int   `json:"maxNetworkCards"`
	NetworkCards       []struct {
		Index         int `json:"index"`
		MaxInterfaces int `json:"maxInterfaces"`
	} `json:"networkCards"`
	VCPUs *int `json:"vcpus"`
}

func loadDataSet(t *testing.T) map[string]jsonType {
	t.Helper()
	raw, err := os.ReadFile(dataSet)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("data set %s not present (it sits in the shared folder next to the repository); the generated table cannot be checked against it", dataSet)
	}
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]jsonType
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", dataSet, err)
	}
	return m
}

// TestTableMatchesDataSet fails when table_gen.go and the data set drift
// apart: run go generate ./core/limits to fix it.
func TestTableMatchesDataSet(t *testing.T) {
	data := loadDataSet(t)
	if len(data) != Count() {
		t.Errorf("data set has %d types, table has %d", len(data), Count())
	}
	for name, j := range data {
		want := InstanceType{
			Name:               name,
			MaxENIs:            j.MaxENIs,
			IPv4PerENI:         j.IPv4PerENI,
			DefaultNetworkCard: j.DefaultNetworkCard,
			Hypervisor:         j.Hypervisor,
			BareMetal:          j.BareMetal,
		}
		if j.IPv6PerENI != nil {
			want.IPv6PerENI = *j.IPv6PerENI
		}
		if j.VCPUs != nil {
			want.VCPUs = *j.VCPUs
			if want.VCPUs == 0 {
				t.Errorf("%s: data set records 0 vCPUs, which the table cannot tell from unknown", name)
			}
		}
		if j.IPv6Supported != nil {
			want.IPv6Supported = *j.IPv6Supported
		}
		if j.EFASupported != nil {
			want.EFASupported = *j.EFASupported
		}
		for _, c := range j.NetworkCards {
			want.NetworkCards = append(want.NetworkCards, NetworkCard{Index: c.Index, MaxInterfaces: c.MaxInterfaces})
		}
		got, ok := Lookup(name)
		if !ok {
			t.Errorf("%s: in the data set but not in the table", name)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: table has\n\t%+v\ndata set says\n\t%+v", name, got, want)
		}
		if j.MaxNetworkCards != nil && *j.MaxNetworkCards != len(got.NetworkCards) {
			t.Errorf("%s: maxNetworkCards %d, table lists %d cards", name, *j.MaxNetworkCards, len(got.NetworkCards))
		}
	}
	for _, name := range Names() {
		if _, ok := data[name]; !ok {
			t.Errorf("%s: in the table but not in the data set", name)
		}
	}
}

// TestSecondaryIPMaxPodsMatchesDataSet checks the secondary-IP formula for
// every type against values computed straight from the JSON.
func TestSecondaryIPMaxPodsMatchesDataSet(t *testing.T) {
	data := loadDataSet(t)
	for name, j := range data {
		want := j.MaxENIs*(j.IPv4PerENI-1) + 2
		got, err := MaxPodsByName(name, MaxPodsOptions{})
		if err != nil {
			t.Errorf("MaxPodsByName(%q): %v", name, err)
			continue
		}
		if got != want {
			t.Errorf("MaxPodsByName(%q) = %d, want %d", name, got, want)
		}
	}
}
