package lambdart

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runtimeLoop plays the function's side for n events: next, then answer
// with answer(id, event) posted to .../response or .../error.
func runtimeLoop(t *testing.T, s *Server, n int, answer func(h http.Header, event []byte) (kind, body string)) {
	t.Helper()
	base := "http://" + s.Addr + "/2018-06-01/runtime/invocation/"
	for range n {
		resp, err := http.Get(base + "next")
		if err != nil {
			t.Errorf("next: %v", err)
			return
		}
		event, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		kind, body := answer(resp.Header, event)
		post, err := http.Post(base+resp.Header.Get(HeaderRequestID)+"/"+kind, "application/json", strings.NewReader(body))
		if err != nil {
			t.Errorf("posting %s: %v", kind, err)
			return
		}
		post.Body.Close()
		if post.StatusCode != http.StatusAccepted {
			t.Errorf("posting %s: status %d", kind, post.StatusCode)
		}
	}
}

func TestInvokeRoundTrip(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	// The loop reports through t: the test waits for it to end (after the
	// server closes, which ends a loop still waiting) before it returns, or
	// a late error would fail a test that has already finished.
	loopDone := make(chan struct{})
	defer func() { <-loopDone }()
	defer s.Close()
	go func() {
		defer close(loopDone)
		runtimeLoop(t, s, 2, func(h http.Header, event []byte) (string, string) {
			ms, err := strconv.ParseInt(h.Get(HeaderDeadlineMs), 10, 64)
			if err != nil || time.UnixMilli(ms).Before(time.Now()) {
				t.Errorf("deadline header %q is not a future epoch in ms", h.Get(HeaderDeadlineMs))
			}
			if h.Get(HeaderFunctionARN) != s.FunctionARN || h.Get(HeaderTraceID) == "" {
				t.Errorf("headers %v lack the function ARN or trace ID", h)
			}
			if string(event) == `"fail"` {
				return "error", `{"errorMessage":"it failed","errorType":"Boom"}`
			}
			return "response", `{"echo":` + string(event) + `}`
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.Invoke(ctx, []byte(`"hello"`), time.Minute)
	if err != nil || res.Err != nil || string(res.Body) != `{"echo":"hello"}` {
		t.Fatalf("Invoke = %+v, %v; want the echoed body", res, err)
	}
	res, err = s.Invoke(ctx, []byte(`"fail"`), time.Minute)
	if err != nil || res.Err == nil || res.Err.Type != "Boom" || res.Err.Message != "it failed" {
		t.Fatalf("Invoke = %+v, %v; want error Boom", res, err)
	}
	if _, err := s.WaitPoll(ctx, nil); err != nil {
		t.Errorf("no poll recorded: %v", err)
	}
	// The server hands the answer to Invoke before it writes its 202, so the
	// loop may still be reading that reply: closing the server now would cut
	// it off (EOF). Both answers were given, so the loop ends by itself.
	<-loopDone
}

func TestUnknownRequestIDIsRejected(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Post("http://"+s.Addr+"/2018-06-01/runtime/invocation/nope/response", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400", resp.StatusCode)
	}
}

func TestReportInitError(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := ReportInitError(s.Addr, "ConfigurationError", errors.New("MODE: bad")); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-s.InitErrors():
		if e.Type != "ConfigurationError" || e.Message != "MODE: bad" || e.HeaderType != "ConfigurationError" {
			t.Errorf("init error %+v", e)
		}
	case <-time.After(time.Second):
		t.Fatal("no init error received")
	}
	s.Close()
	if err := ReportInitError(s.Addr, "X", errors.New("y")); err == nil {
		t.Error("reporting to a closed server succeeded")
	}
}
