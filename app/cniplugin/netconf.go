package cniplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/vpc-cni/vpc-cni/adapters/netlink"
)

// Defaults of the netconf fields, as upstream's.
const (
	DefaultVethPrefix = "eni"
	DefaultMTU        = 9001
	DefaultLogFile    = "/var/log/aws-routed-eni/plugin.log"
	DefaultLogLevel   = "Debug"
	DefaultSGMode     = "strict"

	minMTU = 576
	maxMTU = 9001

	// podAnnotationsCapability is the runtimeConfig key under which
	// containerd passes the pod's annotations.
	podAnnotationsCapability = "io.kubernetes.cri.pod-annotations"
	// multiNICAnnotation asks upstream's plugin for one interface per
	// network card; this plugin wires one interface and says so.
	multiNICAnnotation = "k8s.amazonaws.com/nicConfig"
)

// NetConf is the plugin's entry in the conflist (type "aws-cni").
type NetConf struct {
	types.PluginConf

	// VethPrefix starts every host-side veth name (default "eni").
	VethPrefix string `json:"vethPrefix,omitempty"`
	// MTU of the pod's interface; upstream writes it as a string.
	MTU json.RawMessage `json:"mtu,omitempty"`
	// PodSGEnforcingMode is strict or standard (security groups for
	// pods; branch ENI pods are not wired by this plugin).
	PodSGEnforcingMode string `json:"podSGEnforcingMode,omitempty"`
	// PluginLogFile is a path, or "stderr"; absent means DefaultLogFile,
	// present but empty means stderr. stdout is refused: it carries the
	// CNI result.
	PluginLogFile *string `json:"pluginLogFile,omitempty"`
	// PluginLogLevel is Debug, Info, Warn, Error or Fatal (any case).
	PluginLogLevel string `json:"pluginLogLevel,omitempty"`
	// IpamdSocket overrides the path of ipamd's unix socket.
	IpamdSocket string `json:"ipamdSocket,omitempty"`

	RuntimeConfig struct {
		PodAnnotations map[string]string `json:"io.kubernetes.cri.pod-annotations,omitempty"`
	} `json:"runtimeConfig,omitempty"`
}

// settings is a validated NetConf.
type settings struct {
	conf       NetConf
	vethPrefix string
	mtu        int
	sgMode     string
	logFile    string // "stderr" or an absolute path
	logLevel   slog.Level
	socket     string
	// hasValidAttachments: the GC key was present (possibly empty).
	hasValidAttachments bool
	// notes are problems that were tolerated (logged once logging is up).
	notes []string
}

// parseNetConf reads and validates the netconf. In lenient mode (DEL) a bad
// value falls back to its default and is reported in notes instead of
// failing: a pod must stay deletable after a bad config edit.
func parseNetConf(data []byte, lenient bool) (*settings, error) {
	s := &settings{}
	present, err := decodeNetConf(data, &s.conf)
	if err != nil {
		return nil, fmt.Errorf("parse network configuration: %w", err)
	}
	// The GC key counts when present at all, even as an empty list.
	s.hasValidAttachments = present[keyValidAttachments]
	c := &s.conf
	problem := func(err error) error {
		if lenient {
			s.notes = append(s.notes, err.Error())
			return nil
		}
		return err
	}

	s.vethPrefix = c.VethPrefix
	if s.vethPrefix == "" {
		s.vethPrefix = DefaultVethPrefix
	}
	if err := netlink.ValidateVethPrefix(s.vethPrefix); err != nil {
		if err := problem(fmt.Errorf("vethPrefix: %w", err)); err != nil {
			return nil, err
		}
		s.vethPrefix = DefaultVethPrefix
	}

	// An unusable MTU is not fatal, as upstream: the pod gets 9001.
	var note string
	s.mtu, note = parseMTU(c.MTU)
	if note != "" {
		s.notes = append(s.notes, note)
	}

	s.sgMode = strings.ToLower(c.PodSGEnforcingMode)
	switch s.sgMode {
	case "":
		s.sgMode = DefaultSGMode
	case "strict", "standard":
	default:
		if err := problem(fmt.Errorf("podSGEnforcingMode %q: must be strict or standard", c.PodSGEnforcingMode)); err != nil {
			return nil, err
		}
		s.sgMode = DefaultSGMode
	}

	switch {
	case c.PluginLogFile == nil:
		s.logFile = DefaultLogFile
	case *c.PluginLogFile == "" || *c.PluginLogFile == "stderr":
		s.logFile = "stderr"
	case *c.PluginLogFile == "stdout":
		if err := problem(fmt.Errorf("pluginLogFile %q: stdout carries the CNI result; use stderr or an absolute path", *c.PluginLogFile)); err != nil {
			return nil, err
		}
		s.logFile = "stderr"
	case !filepath.IsAbs(*c.PluginLogFile):
		if err := problem(fmt.Errorf("pluginLogFile %q: must be stderr or an absolute path", *c.PluginLogFile)); err != nil {
			return nil, err
		}
		s.logFile = "stderr"
	default:
		s.logFile = filepath.Clean(*c.PluginLogFile)
	}

	lvl := c.PluginLogLevel
	if lvl == "" {
		lvl = DefaultLogLevel
	}
	var ok bool
	if s.logLevel, ok = parseLevel(lvl); !ok {
		if err := problem(fmt.Errorf("pluginLogLevel %q: must be Debug, Info, Warn, Error or Fatal", c.PluginLogLevel)); err != nil {
			return nil, err
		}
		s.logLevel = slog.LevelDebug
	}

	s.socket = c.IpamdSocket
	if s.socket != "" && !filepath.IsAbs(s.socket) {
		if err := problem(fmt.Errorf("ipamdSocket %q: must be an absolute path", c.IpamdSocket)); err != nil {
			return nil, err
		}
		s.socket = ""
	}
	return s, nil
}

const keyValidAttachments = "cni.dev/valid-attachments"

// decodeNetConf fills c from a netconf as json.Unmarshal would (keys
// matched regardless of case, unknown keys skipped, the last of duplicate
// keys winning, null leaving a field as it is), decoding each value into
// its field on its own, and reports which of the known keys (by their
// canonical spelling) were present. json.Unmarshal into the struct first
// builds encoding/json's description of NetConf and of the embedded
// types.PluginConf, which cost the plugin, a new process for every
// command, about 0.07 ms per ADD; decoding a string or a small map into
// its field does not need it.
func decodeNetConf(data []byte, c *NetConf) (map[string]bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	present := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		name, dst := netConfField(c, key)
		if dst == nil {
			var skip json.RawMessage
			dst = &skip
		} else {
			present[name] = true
		}
		if err := dec.Decode(dst); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON object")
	}
	return present, nil
}

// netConfField returns the canonical name of key and the field it decodes
// into, or a nil field for a key the plugin does not read.
func netConfField(c *NetConf, key string) (string, any) {
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"cniVersion", &c.CNIVersion},
		{"name", &c.Name},
		{"type", &c.Type},
		{"capabilities", &c.Capabilities},
		{"ipam", &c.IPAM},
		{"dns", &c.DNS},
		{"prevResult", &c.RawPrevResult},
		{keyValidAttachments, &c.ValidAttachments},
		{"vethPrefix", &c.VethPrefix},
		{"mtu", &c.MTU},
		{"podSGEnforcingMode", &c.PodSGEnforcingMode},
		{"pluginLogFile", &c.PluginLogFile},
		{"pluginLogLevel", &c.PluginLogLevel},
		{"ipamdSocket", &c.IpamdSocket},
		{"runtimeConfig", &c.RuntimeConfig},
	} {
		if strings.EqualFold(key, f.name) {
			return f.name, f.dst
		}
	}
	return "", nil
}

// parseMTU accepts a JSON string ("9001", upstream's form) or number. A
// missing value is the default without comment; an unusable one is the
// default with a note for the log.
func parseMTU(raw json.RawMessage) (int, string) {
	if len(raw) == 0 || string(raw) == "null" {
		return DefaultMTU, ""
	}
	text := string(raw)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		text = s
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return DefaultMTU, ""
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < minMTU || n > maxMTU {
		return DefaultMTU, fmt.Sprintf("mtu %s: not an integer in %d..%d; using %d", string(raw), minMTU, maxMTU, DefaultMTU)
	}
	return n, ""
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error", "fatal":
		return slog.LevelError, true
	}
	return 0, false
}

// k8sArgs are the Kubernetes fields of CNI_ARGS.
type k8sArgs struct {
	PodName          string
	PodNamespace     string
	InfraContainerID string
	PodUID           string
}

// parseCNIArgs reads "K1=V1;K2=V2". Unknown keys are ignored (the runtime
// also passes IgnoreUnknown and others); a pair without "=" is an error
// unless lenient.
func parseCNIArgs(s string, lenient bool) (k8sArgs, error) {
	var a k8sArgs
	if s == "" {
		return a, nil
	}
	for _, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			if lenient {
				continue
			}
			return a, fmt.Errorf("parse CNI_ARGS: %q is not KEY=VALUE", pair)
		}
		switch k {
		case "K8S_POD_NAME":
			a.PodName = v
		case "K8S_POD_NAMESPACE":
			a.PodNamespace = v
		case "K8S_POD_INFRA_CONTAINER_ID":
			a.InfraContainerID = v
		case "K8S_POD_UID":
			a.PodUID = v
		}
	}
	return a, nil
}
