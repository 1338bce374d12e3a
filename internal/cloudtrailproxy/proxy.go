// Package cloudtrailproxy stands in for AWS CloudTrail in front of the
// local AWS emulator, which records no CloudTrail events: a reverse proxy
// that forwards every call to moto_server unchanged and, for every
// mutating S3 or EC2 management call that succeeded (2xx), puts an "AWS API
// Call via CloudTrail" event shaped like AWS's on the emulator's event bus
// (through a Sink). Who made the call is read from the access key ID the
// request is signed with, mapped to a configured identity.
//
// What differs from CloudTrail: the event is on the bus before the caller
// has its answer (CloudTrail delivers within seconds to minutes); eventTime
// keeps milliseconds (CloudTrail writes whole seconds); failed and
// read-only calls, S3 data events (object calls) and services other than
// S3 and EC2 are not recorded; requestParameters and responseElements of
// calls the pipeline does not read are best-effort renderings.
package cloudtrailproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/relay"
)

// maxBody is the largest request or response body the proxy reads to
// record a call; a call with a larger one is forwarded unrecorded.
const maxBody = 8 << 20

// Options configure a Proxy.
type Options struct {
	// Target is the emulator's URL (required).
	Target string
	// Sink receives the events (required).
	Sink Sink
	// Account is the account the emulator plays (recipientAccountId and the
	// account of the identities' ARNs built for unknown keys).
	Account string
	// Region is awsRegion when a request's signature names none.
	Region string
	// Identities maps access key IDs to the principals that sign with them.
	// A call signed with any other key is recorded as made by the IAM user
	// arn:aws:iam::ACCOUNT:user/KEY.
	Identities map[string]Identity
	// OnError is told what could not be recorded or put on the bus (the call
	// itself is forwarded regardless); nil drops it.
	OnError func(error)
	// Now is time.Now when nil.
	Now func() time.Time
}

// Proxy is the recording reverse proxy; it is an http.Handler.
type Proxy struct {
	rp         *httputil.ReverseProxy
	sink       Sink
	account    string
	region     string
	identities map[string]Identity
	onError    func(error)
	now        func() time.Time
	started    time.Time
}

// Server is a Proxy listening on a loopback port: its URL is what clients
// use as their endpoint URL, and Close stops it, letting calls in flight
// finish (at most 5 s).
type Server struct {
	*Proxy
	*relay.Server
}

type callKey struct{}

// New returns a proxy forwarding to opts.Target.
func New(opts Options) (*Proxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("the CloudTrail proxy's target %q is not a URL", opts.Target)
	}
	if opts.Sink == nil {
		return nil, errors.New("the CloudTrail proxy needs a sink for its events")
	}
	if opts.Account == "" {
		return nil, errors.New("the CloudTrail proxy needs the account it records calls in")
	}
	p := &Proxy{sink: opts.Sink, account: opts.Account, region: opts.Region, identities: opts.Identities,
		onError: opts.OnError, now: opts.Now}
	if p.now == nil {
		p.now = time.Now
	}
	if p.onError == nil {
		p.onError = func(error) {}
	}
	p.started = p.now()
	p.rp = relay.ReverseProxy(target, p.recordResponse, func(_ *http.Request, err error) { p.onError(err) })
	return p, nil
}

// ServeHTTP forwards the request and records it when it is a mutating S3
// or EC2 call.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := p.classify(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c != nil {
		r = r.WithContext(context.WithValue(r.Context(), callKey{}, c))
	}
	p.rp.ServeHTTP(w, r)
}

// classify returns the call to record when the request may be one (nil
// otherwise), reading the body it needs and putting it back for
// forwarding.
func (p *Proxy) classify(r *http.Request) (*call, error) {
	sig, ok := parseSignature(r)
	if !ok || (sig.service != "s3" && sig.service != "ec2") {
		return nil, nil
	}
	c := &call{at: p.now(), sig: sig, host: r.Host, userAgent: r.UserAgent(), header: r.Header}
	c.sourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	if sig.service == "s3" {
		bucket, key := S3Target(r)
		name, sub, ok := s3Call(r.Method, key, r.URL.Query())
		if !ok || bucket == "" {
			return nil, nil
		}
		c.source, c.eventSource, c.eventName, c.bucket, c.subresource = events.SourceS3, events.EventSourceS3, name, bucket, sub
	} else {
		c.source, c.eventSource = events.SourceEC2, events.EventSourceEC2
	}
	body, complete, err := relay.ReadBody(r, maxBody)
	if err != nil {
		return nil, fmt.Errorf("reading the request body of %s %s: %w", r.Method, r.URL.Path, err)
	}
	if !complete {
		return nil, nil
	}
	c.body = body
	if c.source == events.SourceEC2 {
		c.params = r.URL.Query()
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, nil // not a Query API call the proxy can name
			}
			for k, v := range form {
				c.params[k] = v
			}
		}
		c.eventName = c.params.Get("Action")
		if c.eventName == "" || ec2ReadOnly(c.eventName) {
			return nil, nil
		}
	}
	return c, nil
}

// recordResponse builds and puts the event of a call that succeeded,
// before the caller gets the answer.
func (p *Proxy) recordResponse(resp *http.Response) error {
	c, _ := resp.Request.Context().Value(callKey{}).(*call)
	if c == nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil
	}
	var body []byte
	if c.source == events.SourceEC2 {
		raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		rest := resp.Body
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(raw), rest), rest}
		if err != nil || len(raw) > maxBody {
			p.onError(fmt.Errorf("reading the emulator's answer to %s: too large or cut short (%v): %s recorded without its response", c.eventName, err, c.eventName))
		} else {
			// The record reads the answer decompressed; the caller gets
			// it as the emulator sent it.
			body = relay.Decoded(raw, resp.Header.Get("Content-Encoding"), maxBody)
		}
	}
	ev, err := p.build(c, resp, body)
	if err != nil {
		p.onError(err)
		if ev.Detail == nil {
			return nil
		}
	}
	// The caller hanging up does not undo its call: the event still goes
	// out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(resp.Request.Context()), 10*time.Second)
	defer cancel()
	if err := p.sink.Put(ctx, ev); err != nil {
		p.onError(err)
	}
	return nil
}

// Start runs a proxy on a free loopback port.
func Start(opts Options) (*Server, error) {
	p, srv, err := relay.Start("CloudTrail proxy", New, opts)
	if err != nil {
		return nil, err
	}
	return &Server{Proxy: p, Server: srv}, nil
}
