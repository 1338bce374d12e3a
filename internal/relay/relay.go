// Package relay holds the plumbing the emulator proxies (cloudtrailproxy,
// orgproxy, faultproxy) share: serving a handler on a free loopback port,
// reading a request's body without taking it from the request, and
// undoing a gzip content encoding to read an answer.
package relay

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Server is a handler served on a loopback port.
type Server struct {
	// URL is the server's address, e.g. http://127.0.0.1:41234.
	URL  string
	name string
	srv  *http.Server
	done chan struct{}
}

// Start builds a handler with newHandler(opts) and serves it on a free
// loopback port; name (such as "CloudTrail proxy") names the server in
// errors.
func Start[O any, H http.Handler](name string, newHandler func(O) (H, error), opts O) (H, *Server, error) {
	h, err := newHandler(opts)
	if err != nil {
		var none H
		return none, nil, err
	}
	s, err := serve(name, h)
	if err != nil {
		var none H
		return none, nil, err
	}
	return h, s, nil
}

// serve serves h on a free loopback port; name names the server in errors.
func serve(name string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the %s: %w", name, err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), name: name,
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // http.ErrServerClosed once stopped
	}()
	return s, nil
}

// Close stops the server, letting calls in flight finish (at most 5 s).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return fmt.Errorf("stopping the %s: %w", s.name, err)
	}
	return nil
}

// CloseNow stops the server at once, closing the connections of calls in
// flight.
func (s *Server) CloseNow() error {
	err := s.srv.Close()
	<-s.done
	if err != nil {
		return fmt.Errorf("stopping the %s: %w", s.name, err)
	}
	return nil
}

// ReverseProxy forwards to target, keeping the Host the caller sent: the
// emulator builds the URLs it returns (SQS queue URLs) from the Host, so
// the caller keeps talking to the proxy. modify sees each answer before
// the caller does; failed is told why a call could not be forwarded, and
// the caller gets 502 Bad Gateway.
func ReverseProxy(target *url.URL, modify func(*http.Response) error, failed func(*http.Request, error)) *httputil.ReverseProxy {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		Transport:      transport,
		ModifyResponse: modify,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			failed(r, fmt.Errorf("forwarding %s %s to the emulator: %w", r.Method, r.URL.Path, err))
			w.WriteHeader(http.StatusBadGateway)
		},
	}
}

// ReadBody reads up to limit bytes of the request body and puts it back;
// complete is false, and body nil, when the body is larger (the request
// then carries it as it came).
func ReadBody(r *http.Request, limit int) (body []byte, complete bool, err error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true, nil
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > limit {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		return nil, false, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true, nil
}

// Decoded undoes a gzip content encoding for reading, up to limit bytes;
// a body in any other encoding, or one that does not decompress, is
// returned as it is.
func Decoded(body []byte, encoding string, limit int) []byte {
	if !strings.EqualFold(encoding, "gzip") {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)))
	if err != nil {
		return body
	}
	return out
}
