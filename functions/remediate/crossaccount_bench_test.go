package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// memberAccount is the account of the cross-account events: moto grants
// AssumeRole into it and keeps its resources apart (its S3 bucket names
// are shared with every account, so a member's key can fix the central
// account's bucket: the organisation tests check which key signed).
const memberAccount = "444455556666"

// BenchmarkCrossAccountEvents measures the remediate function acting in a
// member account: the first event of a cold process pays for the SDK
// clients and the member role's AssumeRole; the next ones reuse both.
//
//   - first-invoke-ms: the first cross-account event of a cold process,
//   - warm-invoke-ms: the mean of the next ones (same member account),
//   - assume-role-per-event: STS AssumeRole calls per event (one per account
//     per credential lifetime, so 1/events here).
func BenchmarkCrossAccountEvents(b *testing.B) {
	const events = 10
	srv := emu(b)
	target, err := url.Parse(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	var assumes atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "Action=AssumeRole") {
			assumes.Add(1)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	var firstSum, warmSum time.Duration
	var calls int64
	b.ResetTimer()
	for range b.N {
		var evs [][]byte
		for range events {
			ev := fixture(b, fixturePublicRead, fixtureBucket, publicBucket(b, srv, "xacct"))
			evs = append(evs, bytes.ReplaceAll(ev, []byte(`"123456789012"`), []byte(`"`+memberAccount+`"`)))
		}
		before := assumes.Load()
		f := startFunction(b, "METRICS_MODE=off", "AWS_ENDPOINT_URL="+proxy.URL)
		for i, ev := range evs {
			t0 := time.Now()
			if res := f.invoke(ev); res.Err != nil {
				b.Fatalf("event %d: %+v", i, res.Err)
			}
			if i == 0 {
				firstSum += time.Since(t0)
			} else {
				warmSum += time.Since(t0)
			}
		}
		f.stop()
		calls += assumes.Load() - before
	}
	n := float64(b.N)
	b.ReportMetric(float64(firstSum)/float64(time.Millisecond)/n, "first-invoke-ms")
	b.ReportMetric(float64(warmSum)/float64(time.Millisecond)/n/(events-1), "warm-invoke-ms")
	b.ReportMetric(float64(calls)/n/events, "assume-role-per-event")
}
