// Package faultproxy is a reverse proxy for tests that stands between an AWS
// SDK and an emulator (moto_server) and answers a seeded share of the
// requests with the service's own throttling or server error, in the wire
// protocol the request used, instead of forwarding them. Some faults are
// injected after forwarding: the call is made and its answer lost, so that
// retries of writes that already took effect are exercised too.
//
// The service is read from the SigV4 credential scope
// (.../us-east-1/s3/aws4_request), the protocol from the request itself:
// Smithy RPC v2 CBOR (smithy-protocol header), awsJson 1.0/1.1
// (Content-Type, with the x-amzn-query-error header when the client asks for
// query compatibility), the EC2 and awsQuery form protocols, and S3's
// REST-XML.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/autoremediate/autoremediate/internal/relay"
)

// Kind is what the proxy did with a request instead of forwarding it
// untouched.
type Kind string

// The kinds of fault.
const (
	// Throttle answers with the service's throttling error; the request is
	// not forwarded.
	Throttle Kind = "throttle"
	// ServerError answers with a 500 or 503; the request is not forwarded.
	ServerError Kind = "server-error"
	// LostResponse forwards the request, then replaces the answer with a
	// 500 or 503: the call took effect, the caller cannot know it.
	LostResponse Kind = "lost-response"
)

// Kinds returns every kind of fault.
func Kinds() []Kind { return []Kind{Throttle, ServerError, LostResponse} }

// Options configure a Proxy.
type Options struct {
	// Target is the URL requests are forwarded to.
	Target string
	// Seed makes the choice of faulted requests reproducible.
	Seed uint64
	// Fraction is the share of requests answered with a fault, from 0 to 1.
	Fraction float64
	// Kinds are the faults to inject, chosen with equal odds; nil means
	// all of Kinds().
	Kinds []Kind
}

// Key names a count: a service (its SigV4 signing name, e.g. "s3",
// "monitoring") and a kind of fault.
type Key struct {
	Service string
	Kind    Kind
}

// Stats are the proxy's counts so far.
type Stats struct {
	// Requests is every request received.
	Requests int
	// Faults counts the injected faults by service and kind.
	Faults map[Key]int
	// Forwarded counts the requests forwarded untouched, by service ("" for
	// unsigned requests, which are never faulted).
	Forwarded map[string]int
	// Retries counts, by service, the requests that an SDK marked as a
	// retry (amz-sdk-request: attempt=2 or more).
	Retries map[string]int
	// Errors counts the injected errors by service, the error code the
	// client reads and the HTTP status.
	Errors map[Error]int
}

// Error is an injected error as the client sees it.
type Error struct {
	Service, Code string
	Status        int
}

// ServiceFaults returns the faults injected into the service's requests.
func (s Stats) ServiceFaults(service string) int {
	n := 0
	for k, v := range s.Faults {
		if k.Service == service {
			n += v
		}
	}
	return n
}

// TotalFaults returns every injected fault of the kind; "" counts them all.
func (s Stats) TotalFaults(kind Kind) int {
	n := 0
	for k, v := range s.Faults {
		if kind == "" || k.Kind == kind {
			n += v
		}
	}
	return n
}

// TotalRetries returns every retry seen.
func (s Stats) TotalRetries() int {
	n := 0
	for _, v := range s.Retries {
		n += v
	}
	return n
}

// String is a one-line summary per service, sorted.
func (s Stats) String() string {
	services := map[string]bool{}
	for k := range s.Faults {
		services[k.Service] = true
	}
	for k := range s.Forwarded {
		services[k] = true
	}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests", s.Requests)
	for _, n := range names {
		label := n
		if label == "" {
			label = "(unsigned)"
		}
		fmt.Fprintf(&b, "; %s: %d forwarded, %d retries", label, s.Forwarded[n], s.Retries[n])
		for _, k := range Kinds() {
			fmt.Fprintf(&b, ", %d %s", s.Faults[Key{n, k}], k)
		}
	}
	return b.String()
}

// Proxy is the fault-injecting reverse proxy; it is an http.Handler.
type Proxy struct {
	opts  Options
	kinds []Kind
	rp    *httputil.ReverseProxy

	mu    sync.Mutex
	seen  map[string]uint64 // calls per service and operation
	stats Stats
}

// Server is a Proxy listening on a loopback port: its URL is what clients
// use as their endpoint URL.
type Server struct {
	*Proxy
	*relay.Server
}

// Close stops the proxy at once.
func (s *Server) Close() error { return s.Server.CloseNow() }

// New returns a proxy for the options.
func New(o Options) (*Proxy, error) {
	target, err := url.Parse(o.Target)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("fault proxy target %q is not an absolute URL", o.Target)
	}
	if o.Fraction < 0 || o.Fraction > 1 {
		return nil, fmt.Errorf("fault proxy fraction %v is not from 0 to 1", o.Fraction)
	}
	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	for _, k := range kinds {
		if !slices.Contains(Kinds(), k) {
			return nil, fmt.Errorf("fault proxy kind %q is not one of %v", k, Kinds())
		}
	}
	p := &Proxy{opts: o, kinds: kinds, seen: map[string]uint64{},
		stats: Stats{Faults: map[Key]int{}, Forwarded: map[string]int{}, Retries: map[string]int{}, Errors: map[Error]int{}}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The SDK signed the host it sent to; keep it.
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: p.loseResponse,
	}
	return p, nil
}

// Stats returns a copy of the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Requests: p.stats.Requests, Faults: map[Key]int{}, Forwarded: map[string]int{}, Retries: map[string]int{}, Errors: map[Error]int{}}
	for k, v := range p.stats.Faults {
		s.Faults[k] = v
	}
	for k, v := range p.stats.Forwarded {
		s.Forwarded[k] = v
	}
	for k, v := range p.stats.Retries {
		s.Retries[k] = v
	}
	for k, v := range p.stats.Errors {
		s.Errors[k] = v
	}
	return s
}

// call is what the proxy made of one request.
type call struct {
	service, operation string
	proto              protocol
	contentType        string // of awsJson requests: the answer has the same
	queryMode          bool   // the client asked for awsQuery-compatible errors
	head               bool   // HEAD: the answer has no body
	seq                int    // the request's number, its request ID
	fault              apiError
}

type lostKey struct{}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "fault proxy: reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil

	c := call{service: signingService(r), head: r.Method == http.MethodHead,
		contentType: r.Header.Get("Content-Type"), queryMode: strings.EqualFold(r.Header.Get("X-Amzn-Query-Mode"), "true")}
	c.proto, c.operation = classify(r, c.service, body)
	var kind Kind
	var variant uint64
	// Unsigned requests are not AWS API calls (moto's own /moto-api/, a
	// health check): they pass.
	if c.service != "" {
		kind, variant = p.decide(c.service, c.operation)
	}

	switch kind {
	case Throttle:
		c.fault = throttle(c.service, c.proto, variant)
	case ServerError, LostResponse:
		c.fault = serverError(c.service, c.proto, variant)
	}

	p.mu.Lock()
	p.stats.Requests++
	c.seq = p.stats.Requests
	if retried(r) {
		p.stats.Retries[c.service]++
	}
	if kind == "" {
		p.stats.Forwarded[c.service]++
	} else {
		p.stats.Faults[Key{c.service, kind}]++
		p.stats.Errors[Error{c.service, c.clientCode(), c.fault.status}]++
	}
	p.mu.Unlock()

	switch kind {
	case "":
		p.rp.ServeHTTP(w, r)
	case LostResponse:
		p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), lostKey{}, &c)))
	default:
		h, status, b := c.errorResponse()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
}

// loseResponse replaces a forwarded request's answer with the fault chosen
// for it, when LostResponse was.
func (p *Proxy) loseResponse(resp *http.Response) error {
	c, ok := resp.Request.Context().Value(lostKey{}).(*call)
	if !ok {
		return nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h, status, b := c.errorResponse()
	resp.StatusCode, resp.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
	resp.Header = h
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.TransferEncoding = nil
	return nil
}

// decide chooses the fault for the nth call of the service's operation: a
// pure function of the seed, the operation and n, so that runs with the
// same seed get the same faults per operation whatever their resource
// names and timestamps. (When calls run concurrently, their order decides
// which of them gets which.)
func (p *Proxy) decide(service, operation string) (Kind, uint64) {
	key := service + " " + operation
	p.mu.Lock()
	n := p.seen[key]
	p.seen[key] = n + 1
	p.mu.Unlock()
	h := fnv.New64a()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], p.opts.Seed)
	h.Write(buf[:])
	h.Write([]byte(key))
	x := splitmix(h.Sum64() ^ splitmix(n))
	if float64(x>>11)/(1<<53) >= p.opts.Fraction {
		return "", 0
	}
	x = splitmix(x)
	return p.kinds[x%uint64(len(p.kinds))], splitmix(x)
}

// splitmix is SplitMix64's finaliser, a fast well-mixing hash of 64 bits.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// retried reports whether an SDK marked the request as a retry; its
// amz-sdk-request header reads "attempt=2; max=20".
func retried(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Amz-Sdk-Request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "attempt="); ok {
			n, err := strconv.Atoi(v)
			return err == nil && n > 1
		}
	}
	return false
}

// signingService returns the service of the request's SigV4 credential
// scope (Authorization header, or X-Amz-Credential for presigned URLs);
// "" when the request is not signed.
func signingService(r *http.Request) string {
	cred := ""
	if a := r.Header.Get("Authorization"); a != "" {
		if _, after, ok := strings.Cut(a, "Credential="); ok {
			cred, _, _ = strings.Cut(after, ",")
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	// AKID/20240101/us-east-1/s3/aws4_request
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return ""
	}
	return parts[3]
}

// protocol is a wire protocol an error can be answered in.
type protocol int

const (
	protoRESTXML  protocol = iota // S3
	protoEC2                      // EC2 query
	protoQuery                    // awsQuery (SNS, STS, CloudWatch)
	protoJSON                     // awsJson 1.0 / 1.1 (DynamoDB, KMS)
	protoCBOR                     // Smithy RPC v2 CBOR (CloudWatch's SDK default)
	protoRESTJSON                 // anything else
)

// classify returns the request's protocol and a name for its operation.
func classify(r *http.Request, service string, body []byte) (protocol, string) {
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor"):
		// POST /service/GraniteServiceVersion20100801/operation/GetMetricData
		return protoCBOR, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	case strings.HasPrefix(ct, "application/x-amz-json-"):
		target := r.Header.Get("X-Amz-Target")
		return protoJSON, target[strings.LastIndex(target, ".")+1:]
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded") || r.URL.Query().Has("Action"):
		action := r.URL.Query().Get("Action")
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") != "" {
			action = form.Get("Action")
		}
		if service == "ec2" {
			return protoEC2, action
		}
		return protoQuery, action
	case service == "s3" || service == "s3express":
		return protoRESTXML, restOperation(r)
	}
	return protoRESTJSON, restOperation(r)
}

// Operation names the operation of a request as the proxy counts it: the
// X-Amz-Target's operation (awsJson), the Action (EC2 and awsQuery, from
// the query or the form body), the last path segment (RPC v2 CBOR), or
// for REST calls the method and the query parameter names ("PUT
// ?publicAccessBlock", "GET object"). body is the request's body.
func Operation(r *http.Request, body []byte) string {
	_, op := classify(r, signingService(r), body)
	return op
}

// restOperation names a REST call by its method, query parameter names and
// whether it addresses an object: "PUT ?publicAccessBlock", "GET object".
// Bucket and key names are left out so that runs with other names make the
// same choices.
func restOperation(r *http.Request) string {
	var names []string
	for k := range r.URL.Query() {
		if !strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	op := r.Method
	if len(names) > 0 {
		op += " ?" + strings.Join(names, "&")
	}
	if segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/"); len(segs) > 1 {
		op += " object"
	}
	return op
}

// apiError is one injected error.
type apiError struct {
	status  int
	code    string // the error code the SDK reports
	message string
	sender  bool // the client's fault (throttling), not the server's
	// jsonType is the __type of awsJson and RPC v2 answers; queryCode the
	// awsQuery code sent in x-amzn-query-error to query-compatible clients.
	jsonType, queryCode string
}

// throttle returns the service's throttling error. The codes are the ones
// each service documents; the variant picks between two where a service
// has two.
func throttle(service string, p protocol, variant uint64) apiError {
	alt := variant%2 == 1
	switch {
	case service == "s3" || p == protoRESTXML:
		return apiError{status: 503, code: "SlowDown", message: "Please reduce your request rate."}
	case service == "ec2":
		return apiError{status: 503, code: "RequestLimitExceeded", message: "Request limit exceeded."}
	case service == "sns" && p == protoQuery && alt:
		// SNS's modelled ThrottledException: awsQuery code Throttled, 429.
		return apiError{status: 429, code: "Throttled", message: "Rate exceeded", sender: true}
	case service == "dynamodb" && alt:
		return apiError{status: 400, code: "ProvisionedThroughputExceededException", sender: true,
			message:  "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
			jsonType: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}
	case service == "dynamodb":
		return apiError{status: 400, code: "ThrottlingException", message: "Rate of requests exceeds the allowed throughput.", sender: true,
			jsonType: "com.amazonaws.dynamodb.v20120810#ThrottlingException"}
	case p == protoQuery:
		return apiError{status: 400, code: "Throttling", message: "Rate exceeded", sender: true}
	}
	// awsJson (KMS), RPC v2: ThrottlingException; a query-compatible
	// client (CloudWatch) reads the awsQuery code Throttling from the
	// x-amzn-query-error header.
	return apiError{status: 400, code: "ThrottlingException", message: "Rate exceeded", sender: true,
		jsonType: "ThrottlingException", queryCode: "Throttling"}
}

// serverError returns a 500 or 503 of the service.
func serverError(service string, p protocol, variant uint64) apiError {
	unavailable := variant%2 == 1
	switch {
	case service == "s3" || p == protoRESTXML:
		if unavailable {
			return apiError{status: 503, code: "ServiceUnavailable", message: "Service is unable to handle request."}
		}
		return apiError{status: 500, code: "InternalError", message: "We encountered an internal error. Please try again."}
	case service == "ec2":
		if unavailable {
			return apiError{status: 503, code: "Unavailable", message: "The server is overloaded and can't handle the request."}
		}
		return apiError{status: 500, code: "InternalError", message: "An internal error has occurred."}
	case service == "dynamodb":
		return apiError{status: 500, code: "InternalServerError", message: "Internal server error",
			jsonType: "com.amazonaws.dynamodb.v20120810#InternalServerError"}
	case service == "kms":
		return apiError{status: 500, code: "KMSInternalException", message: "The request was rejected because an internal exception occurred. The request can be retried.",
			jsonType: "KMSInternalException"}
	case unavailable:
		return apiError{status: 503, code: "ServiceUnavailable", message: "The request has failed due to a temporary failure of the server.",
			jsonType: "ServiceUnavailable", queryCode: "ServiceUnavailable"}
	}
	return apiError{status: 500, code: "InternalFailure", message: "The request processing has failed because of an unknown error, exception or failure.",
		jsonType: "InternalFailure", queryCode: "InternalFailure"}
}

// clientCode is the error code the client reads: the awsQuery code for
// query-compatible awsJson and RPC v2 clients, else the error's code.
func (c *call) clientCode() string {
	if c.queryMode && c.fault.queryCode != "" && (c.proto == protoJSON || c.proto == protoCBOR) {
		return c.fault.queryCode
	}
	return c.fault.code
}

// errorResponse renders the call's fault in its protocol.
func (c *call) errorResponse() (http.Header, int, []byte) {
	e := c.fault
	reqID := fmt.Sprintf("faultproxy-%08d", c.seq)
	h := http.Header{}
	var body []byte
	switch c.proto {
	case protoRESTXML:
		h.Set("Content-Type", "application/xml")
		h.Set("X-Amz-Request-Id", reqID)
		h.Set("X-Amz-Id-2", reqID)
		body = []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Error><Code>` + e.code + `</Code><Message>` + e.message + `</Message><RequestId>` + reqID + `</RequestId><HostId>` + reqID + `</HostId></Error>`)
	case protoEC2:
		h.Set("Content-Type", "text/xml;charset=UTF-8")
		body = []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<Response><Errors><Error><Code>` + e.code + `</Code><Message>` + e.message + `</Message></Error></Errors><RequestID>` + reqID + `</RequestID></Response>`)
	case protoQuery:
		h.Set("Content-Type", "text/xml")
		h.Set("X-Amzn-Requestid", reqID)
		body = []byte(`<ErrorResponse><Error><Type>` + faultType(e) + `</Type><Code>` + e.code + `</Code><Message>` + e.message + `</Message></Error><RequestId>` + reqID + `</RequestId></ErrorResponse>`)
	case protoJSON, protoRESTJSON:
		ct := "application/json"
		if c.proto == protoJSON {
			ct = c.contentType
		}
		h.Set("Content-Type", ct)
		h.Set("X-Amzn-Requestid", reqID)
		h.Set("X-Amzn-Errortype", e.code)
		c.queryError(h)
		body, _ = json.Marshal(map[string]string{"__type": typeOf(e), "message": e.message})
	case protoCBOR:
		h.Set("Content-Type", "application/cbor")
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
		h.Set("X-Amzn-Requestid", reqID)
		c.queryError(h)
		body = cbor.Encode(cbor.Map{"__type": cbor.String(typeOf(e)), "message": cbor.String(e.message)})
	}
	if c.head {
		body = nil
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return h, e.status, body
}

// queryError adds x-amzn-query-error ("Throttling;Sender") for clients
// that asked for awsQuery-compatible errors (x-amzn-query-mode: true).
func (c *call) queryError(h http.Header) {
	if c.queryMode && c.fault.queryCode != "" {
		h.Set("X-Amzn-Query-Error", c.fault.queryCode+";"+faultType(c.fault))
	}
}

func faultType(e apiError) string {
	if e.sender {
		return "Sender"
	}
	return "Receiver"
}

func typeOf(e apiError) string {
	if e.jsonType != "" {
		return e.jsonType
	}
	return e.code
}

// Start runs a proxy on a free loopback port.
func Start(opts Options) (*Server, error) {
	p, srv, err := relay.Start("fault proxy", New, opts)
	if err != nil {
		return nil, err
	}
	return &Server{Proxy: p, Server: srv}, nil
}
