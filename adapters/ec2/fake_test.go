package ec2

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// fakeEC2 is an HTTP server speaking the EC2 Query protocol: form-encoded
// POSTs naming an Action, XML answers. Tests queue canned answers per
// action; an action without a queued answer gets an empty success
// response. Every request is recorded.
type fakeEC2 struct {
	srv *httptest.Server

	mu       sync.Mutex
	queued   map[string][]canned
	requests []request
}

type canned struct {
	status int
	body   string
}

type request struct {
	action string
	form   url.Values
	header http.Header
}

func newFakeEC2(t *testing.T) *fakeEC2 {
	t.Helper()
	f := &fakeEC2{queued: map[string][]canned{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEC2) serve(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	f.mu.Lock()
	f.requests = append(f.requests, request{action: action, form: r.PostForm, header: r.Header.Clone()})
	c := canned{status: http.StatusOK, body: fmt.Sprintf(`<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-ok</requestId></%[1]sResponse>`, action)}
	if q := f.queued[action]; len(q) > 0 {
		c, f.queued[action] = q[0], q[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(c.status)
	fmt.Fprint(w, c.body)
}

// reply queues a successful answer; inner is the XML inside the
// <ActionResponse> element.
func (f *fakeEC2) reply(action, inner string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>%s</%[1]sResponse>`, action, inner)
	f.queued[action] = append(f.queued[action], canned{status: http.StatusOK, body: body})
}

// fail queues an EC2 error answer.
func (f *fakeEC2) fail(action string, status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>canned %[1]s</Message></Error></Errors><RequestID>req-err</RequestID></Response>`, code)
	f.queued[action] = append(f.queued[action], canned{status: status, body: body})
}

// calls returns the recorded requests of one action, oldest first.
func (f *fakeEC2) calls(action string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.requests {
		if r.action == action {
			out = append(out, r)
		}
	}
	return out
}

// actions returns the set of actions called so far, sorted.
func (f *fakeEC2) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range f.requests {
		seen[r.action] = true
	}
	out := make([]string, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// params flattens a request form to single values without the protocol
// fields (Action, Version) and the SDK's generated idempotency token.
func params(r request) map[string]string {
	out := map[string]string{}
	for k, v := range r.form {
		switch k {
		case "Action", "Version", "ClientToken":
			continue
		}
		out[k] = v[0]
	}
	return out
}

func checkParams(t *testing.T, r request, want map[string]string) {
	t.Helper()
	if got := params(r); !reflect.DeepEqual(got, want) {
		t.Errorf("%s parameters:\n got %v\nwant %v", r.action, got, want)
	}
}

var testCredentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", Source: "test"}, nil
})

// isolateSDK keeps the developer's AWS configuration out of the test.
func isolateSDK(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_PROFILE":                 "",
		"AWS_REGION":                  "",
		"AWS_DEFAULT_REGION":          "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_EC2":        "",
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

// newTestClient returns a client of the fake with one attempt per call.
func newTestClient(t *testing.T, f *fakeEC2) *Client {
	t.Helper()
	isolateSDK(t)
	c, err := New(Config{Region: "us-west-2", Endpoint: f.srv.URL, Credentials: testCredentials, MaxAttempts: 1}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}
