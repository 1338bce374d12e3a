package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"

	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/sweep"
)

type stubPublisher struct{ remediation.Publisher }

type stubStore struct{ remediation.StateStore }

// Each account-region's handler has every setting of the template, whatever
// fields the handler gains, and the scope's registry; it shares no lock
// map with the template.
func TestScopeHandlerCopiesEveryExportedField(t *testing.T) {
	template := &remediation.Handler{}
	v := reflect.ValueOf(template).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !v.Type().Field(i).IsExported() {
			continue
		}
		// A non-zero value of the field's type.
		switch f.Kind() {
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
		case reflect.Func:
			f.Set(reflect.MakeFunc(f.Type(), func([]reflect.Value) []reflect.Value { panic("not called") }))
		case reflect.Interface:
			filled := false
			for _, c := range []any{&stubPublisher{}, &stubStore{}} {
				if reflect.TypeOf(c).Implements(f.Type()) {
					f.Set(reflect.ValueOf(c))
					filled = true
					break
				}
			}
			if !filled {
				t.Fatalf("field %s: an interface this test cannot fill yet", v.Type().Field(i).Name)
			}
		case reflect.Int, reflect.Int64:
			f.SetInt(7)
		case reflect.String:
			f.SetString("x")
		case reflect.Struct:
			// Modes and the like: set each settable field.
			for j := range f.NumField() {
				if g := f.Field(j); g.CanSet() && g.Kind() == reflect.String {
					g.SetString("y")
				}
			}
		default:
			t.Fatalf("field %s of kind %s: teach the test to fill it", v.Type().Field(i).Name, f.Kind())
		}
	}
	reg, err := remediation.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	h := scopeHandler(template, reg)
	got := reflect.ValueOf(h).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if name == "Registry" {
			if h.Registry != reg {
				t.Error("the scope's handler does not have the scope's registry")
			}
			continue
		}
		a, b := v.Field(i), got.Field(i)
		same := a.Kind() == reflect.Func && a.Pointer() == b.Pointer() || a.Kind() != reflect.Func && reflect.DeepEqual(a.Interface(), b.Interface())
		if !same || b.IsZero() {
			t.Errorf("field %s is not carried over to the scope's handler", name)
		}
	}
}

const callerIdentity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
	`<Arn>arn:aws:iam::111122223333:user/tester</Arn><UserId>AIDATESTER</UserId><Account>111122223333</Account>` +
	`</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>`

// Each account-region gets its own rate limiter, as AWS's limits are per
// account and region: one region's spent bucket does not hold up
// another's. The central configuration's APIOptions has room to spare, so
// that scopes appending to a shared array would overwrite each other's
// limiter.
func TestOrgSweeperGivesEachScopeItsOwnLimiter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, callerIdentity)
	}))
	defer srv.Close()
	noop := func(*middleware.Stack) error { return nil }
	base := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		APIOptions: append(make([]func(*middleware.Stack) error, 0, 8), noop)}
	cfg, err := LoadWith(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrgSweeper(cfg, NewClients(base), &remediation.Handler{})
	// One request at once, then one every 1000 seconds.
	o.Limits = map[string]sweep.Limit{"STS.*": {Burst: 1, Rate: 0.001}}
	// Every scope is made before any client is built (clients are built
	// at their first call).
	scopes := map[string]Scope{}
	for _, region := range []string{"eu-west-1", "us-east-1", "ap-southeast-2"} {
		if scopes[region], err = o.Scopes.For(context.Background(), "111122223333", region, "sweep-test"); err != nil {
			t.Fatal(err)
		}
	}
	call := func(region string, d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := scopes[region].Clients.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}
	// The first call of each region passes at once (a limiter shared by
	// the regions would hold the second for 1000 s).
	for _, region := range []string{"eu-west-1", "us-east-1", "ap-southeast-2"} {
		if err := call(region, 30*time.Second); err != nil {
			t.Errorf("the first call in %s: %v", region, err)
		}
	}
	// The second in a region waits for its own bucket.
	if err := call("us-east-1", 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second call in us-east-1: %v, want it held back by its region's limiter", err)
	}
	if len(base.APIOptions) != 1 {
		t.Errorf("the central configuration has %d API options, want its own 1 (no limiter)", len(base.APIOptions))
	}
}
