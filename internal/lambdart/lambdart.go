// Package lambdart is a small stand-in for the AWS Lambda Runtime API, so
// that tests can run a built `bootstrap` as a child process exactly as
// Lambda's provided.al2023 runtime would: the process polls
// GET /2018-06-01/runtime/invocation/next, handles the event and posts the
// result to .../invocation/{id}/response or .../invocation/{id}/error; a
// failed initialisation may post to /2018-06-01/runtime/init/error.
//
// It serves on loopback only and implements just what a function uses.
// See https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
package lambdart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	apiPrefix      = "/2018-06-01/runtime/"
	invocationPath = apiPrefix + "invocation/"
)

// The headers Lambda sends with each event.
const (
	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs  = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	// HeaderErrorType is the header a runtime may set on error posts.
	HeaderErrorType = "Lambda-Runtime-Function-Error-Type"
)

// Error is the error document a runtime posts for a failed invocation or
// initialisation.
type Error struct {
	Message    string          `json:"errorMessage"`
	Type       string          `json:"errorType"`
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
	// HeaderType is the Lambda-Runtime-Function-Error-Type header, if sent.
	HeaderType string `json:"-"`
	// Raw is the body as posted.
	Raw []byte `json:"-"`
}

// Response is the result of one invocation: Body for a success, Err for an
// error post.
type Response struct {
	RequestID string
	Body      []byte
	Err       *Error
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Response // buffered 1
}

// Server is a running stand-in. Invoke hands it events one at a time, as
// Lambda does with one execution environment.
type Server struct {
	// Addr is host:port, the value of AWS_LAMBDA_RUNTIME_API.
	Addr string
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string

	ln      net.Listener
	srv     *http.Server
	pending chan *invocation
	polls   chan time.Time
	initErr chan Error
	closed  chan struct{}
	once    sync.Once
	seq     atomic.Int64

	mu       sync.Mutex
	inflight map[string]*invocation
}

// Start serves the stand-in on a free loopback port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the Lambda Runtime API stand-in: %w", err)
	}
	s := &Server{
		Addr:        ln.Addr().String(),
		FunctionARN: "arn:aws:lambda:us-east-1:123456789012:function:remediate",
		ln:          ln,
		pending:     make(chan *invocation, 64),
		polls:       make(chan time.Time, 1024),
		initErr:     make(chan Error, 4),
		closed:      make(chan struct{}),
		inflight:    map[string]*invocation{},
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server; pending polls are answered with 500, which makes
// a runtime client exit.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closed)
		_ = s.srv.Close()
	})
}

// Env returns the environment variable that points a runtime at the server.
func (s *Server) Env() string { return "AWS_LAMBDA_RUNTIME_API=" + s.Addr }

// Polls delivers the time of every GET .../invocation/next as it arrives
// (the first one marks the end of the function's initialisation). Times are
// dropped when nobody reads them.
func (s *Server) Polls() <-chan time.Time { return s.polls }

// InitErrors delivers what the function posted to /runtime/init/error.
func (s *Server) InitErrors() <-chan Error { return s.initErr }

// DrainPolls forgets the poll times received so far.
func (s *Server) DrainPolls() {
	for {
		select {
		case <-s.polls:
		default:
			return
		}
	}
}

// Invoke queues one event, waits for the function's answer and returns it.
// timeout sets the deadline the function is told (Lambda-Runtime-Deadline-Ms).
func (s *Server) Invoke(ctx context.Context, event []byte, timeout time.Duration) (Response, error) {
	inv := &invocation{
		id:       fmt.Sprintf("req-%d-%d", time.Now().UnixNano(), s.seq.Add(1)),
		payload:  event,
		deadline: time.Now().Add(timeout),
		done:     make(chan Response, 1),
	}
	s.mu.Lock()
	s.inflight[inv.id] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, inv.id)
		s.mu.Unlock()
	}()
	select {
	case s.pending <- inv:
	case <-ctx.Done():
		return Response{}, fmt.Errorf("queueing invocation %s: %w", inv.id, ctx.Err())
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return Response{}, fmt.Errorf("waiting for the answer to invocation %s: %w", inv.id, ctx.Err())
	case <-s.closed:
		return Response{}, fmt.Errorf("waiting for the answer to invocation %s: server closed", inv.id)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == invocationPath+"next":
		s.next(w, r)
	case r.Method == http.MethodPost && r.URL.Path == apiPrefix+"init/error":
		e := readError(r)
		select {
		case s.initErr <- e:
		default:
		}
		writeStatus(w, http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, invocationPath):
		id, kind, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, invocationPath), "/")
		if !ok || (kind != "response" && kind != "error") {
			http.Error(w, `{"errorMessage":"unknown path","errorType":"InvalidRequest"}`, http.StatusNotFound)
			return
		}
		s.mu.Lock()
		inv := s.inflight[id]
		s.mu.Unlock()
		if inv == nil {
			http.Error(w, `{"errorMessage":"invalid request ID","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		res := Response{RequestID: id}
		if kind == "response" {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			res.Body = body
		} else {
			e := readError(r)
			res.Err = &e
		}
		select {
		case inv.done <- res:
			writeStatus(w, http.StatusAccepted)
		default: // answered twice
			http.Error(w, `{"errorMessage":"invocation already answered","errorType":"InvalidStateTransition"}`, http.StatusForbidden)
		}
	default:
		http.Error(w, `{"errorMessage":"not found","errorType":"NotFound"}`, http.StatusNotFound)
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	select {
	case s.polls <- time.Now():
	default:
	}
	select {
	case inv := <-s.pending:
		h := w.Header()
		h.Set(HeaderRequestID, inv.id)
		h.Set(HeaderDeadlineMs, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set(HeaderFunctionARN, s.FunctionARN)
		h.Set(HeaderTraceID, "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-s.closed:
		http.Error(w, `{"errorMessage":"shutting down","errorType":"Shutdown"}`, http.StatusInternalServerError)
	}
}

func readError(r *http.Request) Error {
	body, _ := io.ReadAll(r.Body)
	var e Error
	if err := json.Unmarshal(body, &e); err != nil {
		e.Message = "error body is not JSON: " + err.Error()
	}
	e.Raw = body
	e.HeaderType = r.Header.Get(HeaderErrorType)
	return e
}

func writeStatus(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

// ErrNoPoll is returned by WaitPoll when the process never asked for an
// event.
var ErrNoPoll = errors.New("the function never polled for an event")

// WaitPoll waits for the next poll (see Polls) or for exited to close.
func (s *Server) WaitPoll(ctx context.Context, exited <-chan struct{}) (time.Time, error) {
	select {
	case t := <-s.polls:
		return t, nil
	case <-exited:
		return time.Time{}, fmt.Errorf("%w: it exited", ErrNoPoll)
	case <-ctx.Done():
		return time.Time{}, fmt.Errorf("%w: %v", ErrNoPoll, ctx.Err())
	}
}
