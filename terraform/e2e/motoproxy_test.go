package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// cloudTrailNameProxy forwards to moto_server, rewriting the trail ARN the
// provider passes as Name to StartLogging, StopLogging and DeleteTrail
// into the trail's name. moto 5.2.1 looks those three up by name only
// (moto/cloudtrail/models.py: self.trails[name]): StartLogging with an ARN
// fails with a KeyError (HTTP 500, which the provider retries for ever) and
// DeleteTrail with an ARN silently deletes nothing. AWS takes either. moto
// does not check signatures, so the rewritten body needs none.
func cloudTrailNameProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		op := r.Header.Get("X-Amz-Target")
		if !strings.HasSuffix(op, ".StartLogging") && !strings.HasSuffix(op, ".StopLogging") && !strings.HasSuffix(op, ".DeleteTrail") {
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var in map[string]any
		if json.Unmarshal(body, &in) == nil {
			if name, ok := in["Name"].(string); ok && strings.HasPrefix(name, "arn:") {
				in["Name"] = name[strings.LastIndex(name, "/")+1:]
				body, _ = json.Marshal(in)
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}
