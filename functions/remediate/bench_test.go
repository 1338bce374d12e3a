package main

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBootstrap measures what a Lambda cold start costs the built
// function, against moto_server on loopback:
//
//   - init-ms: process start to its first GET .../invocation/next (target
//     under 15 ms),
//   - first-invoke-ms: the first event (remediating a public bucket), which
//     pays for building the SDK clients,
//   - warm-invoke-ms: the same work on another bucket in the warm process,
//   - peak-rss-MB: the process's maximum resident set (target under 30 MB),
//   - bootstrap-MB: the host build's size (the arm64 zip is reported by
//     `make bench`).
//
// The numbers are reported, never asserted; emulator latency is part of the
// invoke times.
func BenchmarkBootstrap(b *testing.B) {
	srv := emu(b)
	bin := bootstrap(b)
	cycle := func() (init, first, warm time.Duration, rssKB int64) {
		b1, b2 := publicBucket(b, srv, "bench-a"), publicBucket(b, srv, "bench-b")
		ev1 := fixture(b, fixturePublicRead, fixtureBucket, b1)
		ev2 := fixture(b, fixturePublicRead, fixtureBucket, b2)
		f := startFunction(b, "METRICS_MODE=off")
		init = f.initDone().Sub(f.started)
		t0 := time.Now()
		if res := f.invoke(ev1); res.Err != nil {
			b.Fatalf("first invoke: %+v", res.Err)
		}
		first = time.Since(t0)
		t0 = time.Now()
		if res := f.invoke(ev2); res.Err != nil {
			b.Fatalf("warm invoke: %+v", res.Err)
		}
		warm = time.Since(t0)
		st := f.stop()
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			rssKB = ru.Maxrss // kilobytes on Linux
		}
		return
	}
	cycle() // warms moto's S3 backend and the page cache, untimed

	var initSum, firstSum, warmSum time.Duration
	var rssMax int64
	b.ResetTimer()
	for range b.N {
		i, f, w, rss := cycle()
		initSum, firstSum, warmSum = initSum+i, firstSum+f, warmSum+w
		rssMax = max(rssMax, rss)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / n }
	b.ReportMetric(ms(initSum), "init-ms")
	b.ReportMetric(ms(firstSum), "first-invoke-ms")
	b.ReportMetric(ms(warmSum), "warm-invoke-ms")
	b.ReportMetric(float64(rssMax)/1024, "peak-rss-MB")
	if fi, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "bootstrap-MB")
	}
}
