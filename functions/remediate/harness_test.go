package main

// The harness runs the built bootstrap as Lambda's provided.al2023 runtime
// would: a child process whose AWS_LAMBDA_RUNTIME_API points at the
// internal/lambdart stand-in, and whose AWS SDK points at moto_server.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/lambdart"
	"github.com/autoremediate/autoremediate/internal/syncbuf"
)

var shared struct {
	buildOnce sync.Once
	dir       string
	bootstrap string
	buildErr  error

	emu emulator.Lazy
}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.emu.Stop()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// bootstrap builds the function for this machine exactly as `make build`
// does for Lambda (only GOARCH differs), once per test binary.
func bootstrap(tb testing.TB) string {
	tb.Helper()
	shared.buildOnce.Do(func() {
		shared.dir, shared.buildErr = os.MkdirTemp("", "remediate-bootstrap-")
		if shared.buildErr != nil {
			return
		}
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			goTool = "go"
		}
		shared.bootstrap = filepath.Join(shared.dir, "bootstrap")
		cmd := exec.Command(goTool, "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", shared.bootstrap, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			shared.buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if shared.buildErr != nil {
		tb.Fatalf("building bootstrap: %v", shared.buildErr)
	}
	return shared.bootstrap
}

// emu returns the package's moto_server; a missing one fails the test.
func emu(tb testing.TB) *emulator.Server {
	tb.Helper()
	return shared.emu.Get(tb)
}

// function is one running bootstrap process and its Runtime API.
type function struct {
	tb      testing.TB
	cmd     *exec.Cmd
	rt      *lambdart.Server
	stdout  *syncbuf.Buffer
	stderr  *syncbuf.Buffer
	exited  chan struct{}
	started time.Time // just before exec
	waitErr error
}

// startFunction runs bootstrap with the emulator's environment, the
// variables Lambda sets, and extra (later entries win).
func startFunction(tb testing.TB, extra ...string) *function {
	tb.Helper()
	bin, srv := bootstrap(tb), emu(tb)
	rt, err := lambdart.Start()
	if err != nil {
		tb.Fatal(err)
	}
	f := &function{tb: tb, rt: rt, stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
	f.cmd = exec.Command(bin)
	f.cmd.Dir = filepath.Dir(bin)
	// A clean environment: nothing of the developer's AWS setup leaks in.
	f.cmd.Env = append(append(srv.Env(),
		rt.Env(),
		"AWS_LAMBDA_FUNCTION_NAME=remediate",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT="+filepath.Dir(bin),
		"TZ=:UTC",
	), extra...)
	f.cmd.Stdout, f.cmd.Stderr = f.stdout, f.stderr
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		rt.Close()
		tb.Fatalf("starting bootstrap: %v", err)
	}
	go func() { f.waitErr = f.cmd.Wait(); close(f.exited) }()
	tb.Cleanup(func() {
		f.stop()
		if tb.Failed() {
			tb.Logf("bootstrap stdout:\n%s\nbootstrap stderr:\n%s", f.stdout.String(), f.stderr.String())
		}
	})
	return f
}

// initDone waits for the first poll for an event: the end of the cold
// start.
func (f *function) initDone() time.Time {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	at, err := f.rt.WaitPoll(ctx, f.exited)
	if err != nil {
		f.tb.Fatalf("bootstrap did not start polling: %v\nstderr:\n%s", err, f.stderr.String())
	}
	return at
}

// invoke sends one event and returns the function's answer.
func (f *function) invoke(event []byte) lambdart.Response {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	var res lambdart.Response
	var err error
	go func() { res, err = f.rt.Invoke(ctx, event, 25*time.Second); close(done) }()
	select {
	case <-done:
	case <-f.exited:
		f.tb.Fatalf("bootstrap exited during the invocation (%v)\nstderr:\n%s", f.waitErr, f.stderr.String())
	}
	if err != nil {
		f.tb.Fatalf("invoking bootstrap: %v", err)
	}
	return res
}

// stop kills the process (Lambda freezes and later kills environments; the
// function keeps no state worth a graceful shutdown) and returns its state.
func (f *function) stop() *os.ProcessState {
	select {
	case <-f.exited:
	default:
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	f.rt.Close()
	return f.cmd.ProcessState
}

// waitExit waits for the process to end by itself.
func (f *function) waitExit(d time.Duration) (*os.ProcessState, error) {
	select {
	case <-f.exited:
		return f.cmd.ProcessState, nil
	case <-time.After(d):
		return nil, errors.New("bootstrap still running")
	}
}

func s3Client(srv *emulator.Server) *s3.Client {
	return s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
}

// publicBucket creates a bucket without a public access block.
func publicBucket(tb testing.TB, srv *emulator.Server, prefix string) string {
	tb.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if _, err := s3Client(srv).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// fixture reads events/testdata/name with its example bucket replaced.
func fixture(tb testing.TB, name, from, to string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"`+from+`"`)) {
		tb.Fatalf("fixture %s does not name %q", name, from)
	}
	return bytes.ReplaceAll(raw, []byte(`"`+from+`"`), []byte(`"`+to+`"`))
}

// outcomeActions waits until the process's stdout holds n outcome log
// lines (its output is copied through a pipe, so it can trail the Runtime
// API post) and returns their actions.
func (f *function) outcomeActions(n int) []string {
	var actions []string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		actions = actions[:0]
		for _, l := range strings.Split(f.stdout.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "outcome" {
				actions = append(actions, fmt.Sprint(m["action"]))
			}
		}
		if len(actions) >= n || time.Now().After(deadline) {
			return actions
		}
	}
}
