package cniplugin

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// decodeNetConf must fill NetConf exactly as json.Unmarshal does, for
// every shape of netconf a runtime may send.
func TestDecodeNetConfMatchesUnmarshal(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"cniVersion":"0.4.0","name":"aws-cni","type":"aws-cni","vethPrefix":"eni","mtu":"9001","podSGEnforcingMode":"strict","pluginLogFile":"/var/log/aws-routed-eni/plugin.log","pluginLogLevel":"Debug","ipamdSocket":"/run/ipamd.sock"}`,
		` { "mtu" : 1500 , "pluginLogFile" : "" } `,
		`{"pluginLogFile":null,"mtu":null,"vethPrefix":null,"runtimeConfig":null}`,
		`{"VethPrefix":"abc","MTU":"1400","NAME":"x","CniVersion":"1.1.0","PLUGINLOGLEVEL":"info"}`,
		`{"name":"first","name":"second","vethPrefix":"a","vethprefix":"b"}`,
		`{"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"k8s.amazonaws.com/nicConfig":"trunk","a":"b"},"portMappings":[{"hostPort":80}]}}`,
		`{"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"a":"1"}},"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"b":"2"}}}`,
		`{"capabilities":{"io.kubernetes.cri.pod-annotations":true},"ipam":{"type":"host-local"},"dns":{"nameservers":["10.0.0.2"],"search":["a.b"]}}`,
		`{"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.0.0.5/32","interface":0}]}}`,
		`{"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}`,
		`{"cni.dev/valid-attachments":[]}`,
		`{"unknown":{"nested":[1,2,{"x":null}]},"other":[true,false],"n":-1.5e3,"s":"\u00e9\"\\"}`,
		`{"vethPrefix":"\u0065ni","pluginLogFile":"/var/log/a\/b.log"}`,
	} {
		var want NetConf
		wantErr := json.Unmarshal([]byte(in), &want)
		var got NetConf
		_, gotErr := decodeNetConf([]byte(in), &got)
		if wantErr != nil || gotErr != nil {
			t.Errorf("%s: json.Unmarshal error %v, decodeNetConf error %v; want both nil", in, wantErr, gotErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\ndecodeNetConf %+v\njson.Unmarshal %+v", in, got, want)
		}
	}
}

// Whatever json.Unmarshal refuses, decodeNetConf refuses, naming the key
// when a value has the wrong type.
func TestDecodeNetConfErrors(t *testing.T) {
	for _, tc := range []struct{ in, errHas string }{
		{`{"vethPrefix":5}`, "vethPrefix"},
		{`{"pluginLogLevel":["Debug"]}`, "pluginLogLevel"},
		{`{"runtimeConfig":{"io.kubernetes.cri.pod-annotations":{"a":1}}}`, "runtimeConfig"},
		{`{"cni.dev/valid-attachments":{"containerID":"c1"}}`, "cni.dev/valid-attachments"},
		{`{"capabilities":"all"}`, "capabilities"},
		{`{"name":"x"`, ""},
		{`{"name":"x"}}`, ""},
		{`{"name":"x"} {}`, ""},
		{`{"name" "x"}`, ""},
		{`{name:"x"}`, ""},
		{``, ""},
		{`[]`, ""},
		{`"aws-cni"`, ""},
	} {
		var want NetConf
		if json.Unmarshal([]byte(tc.in), &want) == nil {
			t.Errorf("%s: json.Unmarshal accepted it; the case is wrong", tc.in)
		}
		var got NetConf
		_, err := decodeNetConf([]byte(tc.in), &got)
		if err == nil {
			t.Errorf("%s: decodeNetConf accepted it", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%s: error %q does not name %q", tc.in, err, tc.errHas)
		}
	}
}

// Every field encoding/json would fill has its entry in netConfField, so
// that a field added to NetConf (or to types.PluginConf by a library
// update) cannot be silently ignored.
func TestNetConfFieldCoversEveryField(t *testing.T) {
	var c NetConf
	var walk func(v reflect.Value)
	n := 0
	walk = func(v reflect.Value) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Anonymous {
				walk(v.Field(i))
				continue
			}
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			if tag == "-" || !f.IsExported() {
				continue
			}
			if tag == "" {
				tag = f.Name
			}
			n++
			name, dst := netConfField(&c, tag)
			if dst == nil || name != tag {
				t.Errorf("field %s (json %q) has no entry in netConfField", f.Name, tag)
				continue
			}
			if reflect.ValueOf(dst).Pointer() != v.Field(i).Addr().Pointer() {
				t.Errorf("json key %q decodes into another field than %s", tag, f.Name)
			}
		}
	}
	walk(reflect.ValueOf(&c).Elem())
	if n < 15 {
		t.Fatalf("walked %d fields; the walk is broken", n)
	}
}

func TestDecodeNetConfReportsPresentKeys(t *testing.T) {
	present, err := decodeNetConf([]byte(`{"Name":"x","cni.dev/valid-attachments":[],"other":1}`), &NetConf{})
	if err != nil {
		t.Fatal(err)
	}
	if !present["name"] || !present[keyValidAttachments] || len(present) != 2 {
		t.Errorf("present = %v; want name and %s", present, keyValidAttachments)
	}
}
