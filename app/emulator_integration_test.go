package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/app"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/internal/syncbuf"
	"github.com/autoremediate/autoremediate/remediation"
)

// One moto_server serves every integration test of the package. It starts on
// first use, so that the package's unit tests do not wait for it, and
// TestMain stops it.
var shared emulator.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

// emu returns the shared emulator; a missing moto_server fails the test.
func emu(t testing.TB) *emulator.Server {
	t.Helper()
	return shared.Get(t)
}

// opCounter counts SDK operation calls by name, through a middleware the
// clients get from aws.Config.APIOptions.
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *opCounter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

func (c *opCounter) register(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countOperations",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			if c.n == nil {
				c.n = map[string]int{}
			}
			c.n[awsmiddleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
}

// rig is the pipeline under test (built exactly as the Lambda function
// builds it, from settings) plus SDK clients to set up and read back state.
type rig struct {
	t       *testing.T
	srv     *emulator.Server
	handler *remediation.Handler
	ops     *opCounter // calls made by the pipeline, not by the test
	logs    *syncbuf.Buffer

	S3  *s3.Client
	EC2 *ec2.Client
	CW  *cloudwatch.Client
	SNS *sns.Client
	SQS *sqs.Client
}

// newRig builds the handler from env (the variables app.Settings lists).
func newRig(t *testing.T, env map[string]string) *rig {
	t.Helper()
	srv := emu(t)
	cfg, err := app.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("app.Load(%v): %v", env, err)
	}
	r := &rig{t: t, srv: srv, ops: &opCounter{}, logs: &syncbuf.Buffer{}}
	awsCfg := srv.AWSConfig()
	awsCfg.APIOptions = append(awsCfg.APIOptions, r.ops.register)
	clients := app.NewClients(awsCfg)
	clients.PathStyleS3 = true
	r.handler, err = app.NewHandler(cfg, clients, app.NewLogger(r.logs, slog.LevelDebug))
	if err != nil {
		t.Fatalf("app.NewHandler: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline log:\n%s", r.logs.String())
		}
	})
	plain := srv.AWSConfig()
	r.S3 = s3.NewFromConfig(plain, func(o *s3.Options) { o.UsePathStyle = true })
	r.EC2 = ec2.NewFromConfig(plain)
	r.CW = cloudwatch.NewFromConfig(plain, app.CloudWatchQueryProtocol)
	r.SNS = sns.NewFromConfig(plain)
	r.SQS = sqs.NewFromConfig(plain)
	return r
}

// run sends a fixture, rewritten to resourceID, through the handler.
func (r *rig) run(fixture, resourceID string) (remediation.Outcome, error) {
	r.t.Helper()
	return r.handler.Handle(ctx(r.t), fixtureEvent(r.t, fixture, resourceID))
}

// mustRun is run for outcomes that are not failed.
func (r *rig) mustRun(fixture, resourceID string, want remediation.Action) remediation.Outcome {
	r.t.Helper()
	o, err := r.run(fixture, resourceID)
	if err != nil {
		r.t.Fatalf("%s on %s: %v (outcome %+v)", fixture, resourceID, err, o)
	}
	if o.Action != want {
		r.t.Fatalf("%s on %s: action %q, want %q (reason %q, error %q)", fixture, resourceID, o.Action, want, o.Reason, o.Error)
	}
	if o.ResourceID != resourceID {
		r.t.Fatalf("outcome is for resource %q, want %q", o.ResourceID, resourceID)
	}
	return o
}

// fixtureEvent reads events/testdata/name and replaces its resource ID
// (detail.resourceId and the evaluation qualifiers) with resourceID.
func fixtureEvent(t testing.TB, name, resourceID string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "events", "testdata", name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	var ev struct {
		Detail struct {
			ResourceID string `json:"resourceId"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Detail.ResourceID == "" {
		t.Fatalf("fixture %s has no detail.resourceId (%v)", name, err)
	}
	old, _ := json.Marshal(ev.Detail.ResourceID)
	repl, _ := json.Marshal(resourceID)
	out := bytes.ReplaceAll(raw, old, repl)
	if bytes.Count(out, repl) < 2 {
		t.Fatalf("fixture %s: resource ID %s replaced fewer than twice", name, old)
	}
	return out
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// uniqueName returns a bucket-safe name unique within the emulator's life.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

// logLines returns the JSON log lines in b whose msg is msg.
func logLines(b *syncbuf.Buffer, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
