package emulator

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
)

// xmlns is the namespace of every EC2 response document.
const xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

// exec runs a parsed action against the cloud.
type exec func(ctx context.Context) (result, error)

// action parses and validates a request; nothing may change before exec.
type action struct {
	parse func(s *Server, p *params) (exec, *memory.APIError)
	// attachments marks actions after which attach hooks are re-checked.
	attachments bool
}

var actions = map[string]action{
	memory.OpDescribeInstances:               {parse: (*Server).describeInstances},
	memory.OpDescribeInstanceTypes:           {parse: (*Server).describeInstanceTypes},
	memory.OpDescribeSubnets:                 {parse: (*Server).describeSubnets},
	memory.OpDescribeNetworkInterfaces:       {parse: (*Server).describeENIs},
	memory.OpCreateNetworkInterface:          {parse: (*Server).createENI},
	memory.OpAttachNetworkInterface:          {parse: (*Server).attachENI, attachments: true},
	memory.OpModifyNetworkInterfaceAttribute: {parse: (*Server).modifyENI},
	memory.OpDetachNetworkInterface:          {parse: (*Server).detachENI, attachments: true},
	memory.OpDeleteNetworkInterface:          {parse: (*Server).deleteENI},
	memory.OpAssignPrivateIPAddresses:        {parse: (*Server).assignPrivate},
	memory.OpUnassignPrivateIPAddresses:      {parse: (*Server).unassignPrivate},
	memory.OpAssignIPv6Addresses:             {parse: (*Server).assignIPv6},
	memory.OpUnassignIPv6Addresses:           {parse: (*Server).unassignIPv6},
	memory.OpCreateTags:                      {parse: (*Server).createTags},
	opDescribeVpcs:                           {parse: (*Server).describeVpcs},
}

// opDescribeVpcs is served from the instances' views, see describeVpcs.
const opDescribeVpcs = "DescribeVpcs"

// Actions returns the EC2 actions the emulator serves, sorted.
func Actions() []string {
	return slices.Sorted(maps.Keys(actions))
}

// EC2Handler returns the handler of the EC2 Query API. Requests are form
// POSTs (or GETs with a query string) naming an Action; the signature is
// not checked.
func (s *Server) EC2Handler() http.Handler {
	return http.HandlerFunc(s.serveEC2)
}

func (s *Server) serveEC2(w http.ResponseWriter, r *http.Request) {
	reqID := s.newRequestID()
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.writeError(w, "", reqID, protoErr(codeInvalidAction, "method %s is not supported", r.Method))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.writeError(w, "", reqID, protoErr(memory.CodeInvalidParameterValue, "cannot parse the request: %v", err))
		return
	}
	name := r.Form.Get("Action")
	if name == "" {
		s.writeError(w, "", reqID, protoErr(codeMissingAction, "The request must contain the parameter Action"))
		return
	}
	a, ok := actions[name]
	if !ok {
		s.writeError(w, name, reqID, protoErr(codeInvalidAction, "The action %s is not valid for this web service.", name))
		return
	}
	p := newParams(r.Form)
	dryRun, _, perr := p.bool("DryRun")
	var run exec
	if perr == nil {
		run, perr = a.parse(s, p)
	}
	if perr == nil {
		if extra := p.unused(); len(extra) > 0 {
			perr = protoErr(codeUnknownParameter, "The parameter %s is not recognized", extra[0])
		}
	}
	if perr == nil && dryRun {
		perr = protoErr(codeDryRunOperation, "Request would have succeeded, but DryRun flag is set.")
	}
	if perr != nil {
		s.writeError(w, name, reqID, perr)
		return
	}
	res, err := run(r.Context())
	if a.attachments {
		s.Sync()
	}
	if err != nil {
		var apiErr *memory.APIError
		if !errors.As(err, &apiErr) {
			apiErr = protoErr(memory.CodeInternalError, "%v", err)
		}
		if apiErr.RequestID != "" {
			reqID = apiErr.RequestID
		}
		s.writeError(w, name, reqID, apiErr)
		return
	}
	res.setRequestID(reqID)
	s.log.Debug("ec2 request", "action", name, "request_id", reqID)
	s.writeXML(w, http.StatusOK, name+"Response", reqID, res)
}

func (s *Server) writeXML(w http.ResponseWriter, status int, root, reqID string, body any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{Name: xml.Name{Local: root}}
	if root != "Response" {
		start.Attr = []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlns}}
	}
	if err := enc.EncodeElement(body, start); err != nil {
		s.log.Error("encode ec2 response", "root", root, "error", err)
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type xmlError struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

type errorResponse struct {
	Errors    []xmlError `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

// statusFor returns the HTTP status EC2 uses for an error code.
func statusFor(code string) int {
	switch code {
	case memory.CodeRequestLimitExceeded, "Unavailable", "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case memory.CodeInternalError, "InternalFailure":
		return http.StatusInternalServerError
	case memory.CodeUnauthorizedOperation, "AuthFailure":
		return http.StatusForbidden
	case codeDryRunOperation:
		return http.StatusPreconditionFailed
	}
	return http.StatusBadRequest
}

func (s *Server) writeError(w http.ResponseWriter, action, reqID string, e *memory.APIError) {
	level := s.log.Info
	if statusFor(e.Code) >= 500 && e.Code != memory.CodeRequestLimitExceeded {
		level = s.log.Warn
	}
	level("ec2 request failed", "action", action, "code", e.Code, "message", e.Message, "request_id", reqID)
	s.writeXML(w, statusFor(e.Code), "Response", reqID, errorResponse{
		Errors:    []xmlError{{Code: e.Code, Message: e.Message}},
		RequestID: reqID,
	})
}
