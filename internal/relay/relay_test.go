package relay

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestReadBodyPutsTheBodyBack(t *testing.T) {
	for _, c := range []struct {
		name     string
		body     string
		limit    int
		complete bool
	}{
		{"under the limit", "Action=AssumeRole", 64, true},
		{"at the limit", "12345678", 8, true},
		{"over the limit", "123456789", 8, false},
		{"empty", "", 8, true},
	} {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		body, complete, err := ReadBody(r, c.limit)
		if err != nil || complete != c.complete {
			t.Errorf("%s: complete %t, error %v; want complete %t", c.name, complete, err, c.complete)
		}
		if want := map[bool]string{true: c.body, false: ""}[c.complete]; string(body) != want {
			t.Errorf("%s: read %q, want %q", c.name, body, want)
		}
		// What is forwarded is the whole body, read or not.
		if rest, err := io.ReadAll(r.Body); err != nil || string(rest) != c.body {
			t.Errorf("%s: the request carries %q (%v) afterwards, want %q", c.name, rest, err, c.body)
		}
	}
	r, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if body, complete, err := ReadBody(r, 8); body != nil || !complete || err != nil {
		t.Errorf("no body: %q, %t, %v", body, complete, err)
	}
}

func TestDecoded(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("<AssumeRoleResponse/>"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, encoding string
		body           []byte
		limit          int
		want           string
	}{
		{"gzip", "gzip", gz.Bytes(), 1 << 10, "<AssumeRoleResponse/>"},
		{"gzip in capitals", "GZIP", gz.Bytes(), 1 << 10, "<AssumeRoleResponse/>"},
		{"gzip cut at the limit", "gzip", gz.Bytes(), 5, "<Assu"},
		{"identity", "", []byte("plain"), 1 << 10, "plain"},
		{"not gzip after all", "gzip", []byte("plain"), 1 << 10, "plain"},
		{"truncated gzip", "gzip", gz.Bytes()[:gz.Len()-4], 1 << 10, string(gz.Bytes()[:gz.Len()-4])},
	} {
		if got := string(Decoded(c.body, c.encoding, c.limit)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestServeAndStop(t *testing.T) {
	for _, stop := range []struct {
		name string
		fn   func(*Server) error
	}{{"Close", (*Server).Close}, {"CloseNow", (*Server).CloseNow}} {
		_, s, err := Start("test server", func(prefix string) (http.HandlerFunc, error) {
			return func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, prefix+r.URL.Path) }, nil
		}, "answered ")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
			t.Errorf("URL %q is not on the loopback address", s.URL)
		}
		resp, err := http.Get(s.URL + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "answered /ping" {
			t.Errorf("answer %q", b)
		}
		if err := stop.fn(s); err != nil {
			t.Errorf("%s: %v", stop.name, err)
		}
		if _, err := http.Get(s.URL + "/ping"); err == nil {
			t.Errorf("answered after %s", stop.name)
		}
	}
}

func TestStartReturnsTheHandlersError(t *testing.T) {
	bad := errors.New("fault proxy target \"\" is not an absolute URL")
	h, s, err := Start("test server", func(string) (http.HandlerFunc, error) { return nil, bad }, "")
	if !errors.Is(err, bad) || h != nil || s != nil {
		t.Errorf("Start = %v, %v, %v; want only the error %v", h != nil, s, err, bad)
	}
}
