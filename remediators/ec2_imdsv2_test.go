package remediators

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autoremediate/autoremediate/remediation"
)

const imdsRule = "ec2-imdsv2-check"

// instance returns a running instance with IMDSv2 optional, the endpoint
// and hop limit given.
func instance(tokens, endpoint string, hops int32, tags ...ec2types.Tag) *ec2types.Instance {
	return &ec2types.Instance{
		InstanceId: aws.String(testInstance),
		State:      &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning},
		MetadataOptions: &ec2types.InstanceMetadataOptionsResponse{
			HttpTokens: ec2types.HttpTokensState(tokens), HttpEndpoint: ec2types.InstanceMetadataEndpointState(endpoint),
			HttpPutResponseHopLimit: aws.Int32(hops), State: ec2types.InstanceMetadataOptionsStateApplied,
		},
		Tags: tags,
	}
}

func ec2Tagged(k, v string) ec2types.Tag {
	return ec2types.Tag{Key: aws.String(k), Value: aws.String(v)}
}

type imdsFakes struct {
	ec2 *fakeEC2
	cw  *fakeCloudWatch
}

func newIMDSFakes(t *testing.T) imdsFakes {
	f := imdsFakes{ec2: newFakeEC2(t), cw: &fakeCloudWatch{t: t, region: testRegion, pages: [][]float64{{0, 0}}}}
	f.ec2.instance = instance("optional", "enabled", 2)
	return f
}

func runIMDS(t *testing.T, f imdsFakes, opts Options, mode remediation.Mode) remediation.Result {
	t.Helper()
	r := NewEC2IMDSv2(f.ec2, f.cw, opts)
	return r.Remediate(context.Background(), request(imdsRule, "AWS::EC2::Instance", testInstance, mode))
}

func checkModify(t *testing.T, f *fakeEC2, endpoint ec2types.InstanceMetadataEndpointState, hops *int32) {
	t.Helper()
	if len(f.modifies) != 1 {
		t.Fatalf("%d ModifyInstanceMetadataOptions calls, want 1", len(f.modifies))
	}
	in := f.modifies[0]
	if aws.ToString(in.InstanceId) != testInstance || in.HttpTokens != ec2types.HttpTokensStateRequired {
		t.Errorf("InstanceId %q HttpTokens %q", aws.ToString(in.InstanceId), in.HttpTokens)
	}
	if in.HttpEndpoint != endpoint {
		t.Errorf("HttpEndpoint = %q, want %q (kept)", in.HttpEndpoint, endpoint)
	}
	if !reflect.DeepEqual(in.HttpPutResponseHopLimit, hops) {
		t.Errorf("HttpPutResponseHopLimit = %v, want %v (kept)", aws.ToInt32(in.HttpPutResponseHopLimit), aws.ToInt32(hops))
	}
	if in.HttpProtocolIpv6 != "" || in.InstanceMetadataTags != "" || in.DryRun != nil {
		t.Errorf("request changes other settings: %+v", in)
	}
}

func TestIMDSRemediates(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.instance = instance("optional", "enabled", 3)
	res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	checkModify(t, f.ec2, "enabled", aws.Int32(3))
	if got, want := f.ec2.names(), []string{"DescribeInstances", "ModifyInstanceMetadataOptions", "DescribeInstances"}; !reflect.DeepEqual(got, want) {
		t.Errorf("EC2 calls = %v, want %v", got, want)
	}
	if res.Before["httpTokens"] != "optional" || res.After["httpTokens"] != "required" || res.After["httpPutResponseHopLimit"] != int32(3) ||
		res.After["httpEndpoint"] != "enabled" {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
	if !strings.Contains(res.Reason, "from optional to required") || !strings.Contains(res.Reason, "hop limit 3 kept") {
		t.Errorf("Reason = %q", res.Reason)
	}
}

func TestIMDSKeepsUnsetSettingsUnset(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.instance = instance("", "", 0)
	res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	checkModify(t, f.ec2, "", nil)
}

func TestIMDSMetricQuery(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.instance = instance("optional", "enabled", 1)
	opts := testOptions()
	opts.IMDSLookback = 14 * 24 * time.Hour
	if res := runIMDS(t, f, opts, remediation.ModeEnforce); res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	if len(f.cw.inputs) != 1 {
		t.Fatalf("%d GetMetricData calls, want 1", len(f.cw.inputs))
	}
	in := f.cw.inputs[0]
	start, end := aws.ToTime(in.StartTime), aws.ToTime(in.EndTime)
	if end.Sub(start) != 14*24*time.Hour {
		t.Errorf("window = %v, want the 14-day look-back", end.Sub(start))
	}
	if end.Before(fixedNow) || end.Sub(fixedNow) > 2*time.Minute {
		t.Errorf("EndTime = %v, want just after now (%v)", end, fixedNow)
	}
	if len(in.MetricDataQueries) != 1 {
		t.Fatalf("%d queries", len(in.MetricDataQueries))
	}
	q := in.MetricDataQueries[0]
	ms := q.MetricStat
	if ms == nil || ms.Metric == nil {
		t.Fatalf("query has no MetricStat: %+v", q)
	}
	if aws.ToString(ms.Metric.Namespace) != "AWS/EC2" || aws.ToString(ms.Metric.MetricName) != "MetadataNoToken" || aws.ToString(ms.Stat) != "Sum" {
		t.Errorf("metric %s/%s stat %s", aws.ToString(ms.Metric.Namespace), aws.ToString(ms.Metric.MetricName), aws.ToString(ms.Stat))
	}
	if len(ms.Metric.Dimensions) != 1 || aws.ToString(ms.Metric.Dimensions[0].Name) != "InstanceId" || aws.ToString(ms.Metric.Dimensions[0].Value) != testInstance {
		t.Errorf("dimensions = %+v", ms.Metric.Dimensions)
	}
	if p := aws.ToInt32(ms.Period); p <= 0 || p%60 != 0 {
		t.Errorf("Period = %d, want a positive multiple of 60", p)
	}
	if aws.ToString(q.Id) == "" || aws.ToBool(q.ReturnData) == false && q.ReturnData != nil {
		t.Errorf("query id %q ReturnData %v", aws.ToString(q.Id), q.ReturnData)
	}

	// a short look-back uses a period that fits in it
	f = newIMDSFakes(t)
	opts.IMDSLookback = 6 * time.Hour
	runIMDS(t, f, opts, remediation.ModeEnforce)
	in = f.cw.inputs[0]
	if d := aws.ToTime(in.EndTime).Sub(aws.ToTime(in.StartTime)); d != 6*time.Hour {
		t.Errorf("window = %v, want 6h", d)
	}
	if p := time.Duration(aws.ToInt32(in.MetricDataQueries[0].MetricStat.Period)) * time.Second; p > 6*time.Hour || p%time.Minute != 0 {
		t.Errorf("period %v for a 6h window", p)
	}
}

func TestIMDSDefersOnIMDSv1Use(t *testing.T) {
	f := newIMDSFakes(t)
	f.cw.pages = [][]float64{{0, 3}, {4}} // two pages: 7 calls in all
	res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionDeferred {
		t.Fatalf("result = %+v", res)
	}
	if !strings.Contains(res.Reason, "made 7 IMDSv1") || !strings.Contains(res.Reason, "last 14 days") {
		t.Errorf("Reason = %q, want the call count and window", res.Reason)
	}
	if len(f.ec2.writes()) != 0 {
		t.Errorf("writes %v on a deferred instance", f.ec2.writes())
	}
	if len(f.cw.inputs) != 2 || aws.ToString(f.cw.inputs[1].NextToken) != "page-1" || f.cw.inputs[0].NextToken != nil {
		t.Errorf("pagination: %d calls", len(f.cw.inputs))
	}
}

func TestIMDSLookbackZeroSkipsMetric(t *testing.T) {
	f := newIMDSFakes(t)
	f.cw.pages = [][]float64{{100}}
	opts := testOptions()
	opts.IMDSLookback = 0
	res := runIMDS(t, f, opts, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	if len(f.cw.inputs) != 0 {
		t.Errorf("%d GetMetricData calls with look-back 0", len(f.cw.inputs))
	}
}

func TestIMDSAsyncVerify(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.pendingReads = 1 // the first read after the write still shows optional
	opts := testOptions()
	opts.VerifyAttempts = 3
	res := runIMDS(t, f, opts, remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	if n := f.ec2.count("DescribeInstances"); n != 3 {
		t.Errorf("%d DescribeInstances, want 3 (read, optional, required)", n)
	}
	if n := f.ec2.count("ModifyInstanceMetadataOptions"); n != 1 {
		t.Errorf("%d modifies, want 1", n)
	}

	// never applied within the attempts: failed
	f = newIMDSFakes(t)
	f.ec2.pendingReads = 10
	res = runIMDS(t, f, opts, remediation.ModeEnforce)
	checkFailed(t, res, "", "verifying metadata options of instance", testInstance, "HttpTokens is optional after the write")
	if n := f.ec2.count("DescribeInstances"); n != 1+3 {
		t.Errorf("%d DescribeInstances, want 1 + 3 attempts", n)
	}

	// a cancelled context stops the polling
	f = newIMDSFakes(t)
	f.ec2.pendingReads = 10
	opts.VerifyInterval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = NewEC2IMDSv2(f.ec2, f.cw, opts).Remediate(ctx, request(imdsRule, "AWS::EC2::Instance", testInstance, remediation.ModeEnforce))
	checkFailed(t, res, "", "verifying metadata options", "context canceled")
}

func TestIMDSVerifyMismatch(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.dropWrites = true
	opts := testOptions()
	opts.VerifyAttempts = 2
	res := runIMDS(t, f, opts, remediation.ModeEnforce)
	checkFailed(t, res, "", "HttpTokens is optional after the write")
}

func TestIMDSAlreadyCompliant(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.instance = instance("required", "enabled", 2)
	res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant {
		t.Fatalf("result = %+v", res)
	}
	if got := f.ec2.names(); !reflect.DeepEqual(got, []string{"DescribeInstances"}) {
		t.Errorf("EC2 calls = %v", got)
	}
	if len(f.cw.inputs) != 0 {
		t.Error("metric read for a compliant instance")
	}
}

func TestIMDSExempt(t *testing.T) {
	for _, tc := range []struct {
		key, tagKey, value string
		exempt             bool
	}{
		{"", "auto-remediation", "off", true},
		{"", "auto-remediation", "false", true},
		{"", "auto-remediation", "OFF", true},
		{"imds-exempt", "imds-exempt", "false", true},
		{"imds-exempt", "auto-remediation", "off", false},
		{"", "auto-remediation", "yes", false},
	} {
		f := newIMDSFakes(t)
		f.ec2.instance = instance("optional", "enabled", 1, ec2Tagged("Name", "web"), ec2Tagged(tc.tagKey, tc.value))
		opts := testOptions()
		if tc.key != "" {
			opts.ExemptTagKey = tc.key
		}
		res := runIMDS(t, f, opts, remediation.ModeEnforce)
		if tc.exempt {
			if res.Action != remediation.ActionExempt || len(f.ec2.writes()) != 0 || len(f.cw.inputs) != 0 {
				t.Errorf("%+v: result %+v, writes %v", tc, res, f.ec2.writes())
			}
		} else if res.Action != remediation.ActionRemediated {
			t.Errorf("%+v: result %+v", tc, res)
		}
	}
}

func TestIMDSDryRun(t *testing.T) {
	f := newIMDSFakes(t)
	res := runIMDS(t, f, testOptions(), remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || res.Reason != "would set HttpTokens from optional to required" {
		t.Fatalf("result = %+v", res)
	}
	if len(f.ec2.writes()) != 0 {
		t.Errorf("writes %v in dry-run", f.ec2.writes())
	}
	if res.After["httpTokens"] != "required" || res.After["httpPutResponseHopLimit"] != int32(2) {
		t.Errorf("After = %v", res.After)
	}
	// dry-run still defers an instance that uses IMDSv1
	f = newIMDSFakes(t)
	f.cw.pages = [][]float64{{1}}
	if res := runIMDS(t, f, testOptions(), remediation.ModeDryRun); res.Action != remediation.ActionDeferred {
		t.Errorf("result = %+v", res)
	}
}

// A malformed ID is an input error, not a resource that is gone: whether
// EC2 says so or the ID cannot be an instance ID at all (then EC2 is not
// asked).
func TestIMDSMalformedID(t *testing.T) {
	f := newIMDSFakes(t)
	f.ec2.errs["DescribeInstances"] = apiErr("InvalidInstanceID.Malformed")
	res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "input error") || !strings.Contains(res.Reason, testInstance) {
		t.Errorf("EC2 says malformed: %+v", res)
	}
	for _, id := range []string{"i-xyz", "vol-0123456789abcdef0", "i-0ABCD1234EF567890", "", "arn:aws:ec2:us-east-1:123456789012:instance/i-0abcd1234ef567890"} {
		r := NewEC2IMDSv2(&failingEC2{t}, nil, testOptions())
		res := r.Remediate(context.Background(), remediation.Request{ResourceID: id, Region: "us-east-1", Mode: remediation.ModeEnforce})
		if res.Action != remediation.ActionFailed || !strings.Contains(res.Reason, "input error") {
			t.Errorf("%q: %+v", id, res)
		}
	}
}

// failingEC2 fails the test on any call.
type failingEC2 struct{ t *testing.T }

func (f *failingEC2) DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f.t.Error("DescribeInstances called for a malformed ID")
	return nil, errors.New("unexpected")
}

func (f *failingEC2) ModifyInstanceMetadataOptions(context.Context, *ec2.ModifyInstanceMetadataOptionsInput, ...func(*ec2.Options)) (*ec2.ModifyInstanceMetadataOptionsOutput, error) {
	f.t.Error("ModifyInstanceMetadataOptions called for a malformed ID")
	return nil, errors.New("unexpected")
}

func TestIMDSGone(t *testing.T) {
	cases := map[string]func(f imdsFakes){
		"not found":     func(f imdsFakes) { f.ec2.instance = nil },
		"terminated":    func(f imdsFakes) { f.ec2.instance.State.Name = ec2types.InstanceStateNameTerminated },
		"shutting down": func(f imdsFakes) { f.ec2.instance.State.Name = ec2types.InstanceStateNameShuttingDown },
		"empty reservations": func(f imdsFakes) {
			f.ec2.instance.InstanceId = aws.String("i-other") // DescribeInstances returns another instance only
		},
		"gone before the write": func(f imdsFakes) {
			f.ec2.errs["ModifyInstanceMetadataOptions"] = apiErr("InvalidInstanceID.NotFound")
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			f := newIMDSFakes(t)
			setup(f)
			res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
			if res.Action != remediation.ActionGone || res.Err != nil || !strings.Contains(res.Reason, testInstance) {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestIMDSAPIErrors(t *testing.T) {
	cases := []struct{ at, want string }{
		{"DescribeInstances", "describing instance"},
		{"GetMetricData", "reading MetadataNoToken metric of instance"},
		{"ModifyInstanceMetadataOptions", "modifying metadata options of instance"},
		{"DescribeInstances#2", "verifying metadata options of instance"},
	}
	for _, tc := range cases {
		t.Run(tc.at, func(t *testing.T) {
			f := newIMDSFakes(t)
			if tc.at == "GetMetricData" {
				f.cw.err = apiErr("AccessDenied")
			} else {
				f.ec2.errs[tc.at] = apiErr("UnauthorizedOperation")
			}
			res := runIMDS(t, f, testOptions(), remediation.ModeEnforce)
			code := "UnauthorizedOperation"
			if tc.at == "GetMetricData" {
				code = "AccessDenied"
				if len(f.ec2.writes()) != 0 {
					t.Error("wrote although the metric could not be read")
				}
			}
			checkFailed(t, res, code, tc.want, `"`+testInstance+`"`)
		})
	}
}

func TestIMDSDescribe(t *testing.T) {
	r := NewEC2IMDSv2(nil, nil, Options{})
	if r.Name() != EC2IMDSv2Name || !reflect.DeepEqual(r.ResourceTypes(), []string{"AWS::EC2::Instance"}) {
		t.Errorf("Name %q ResourceTypes %v", r.Name(), r.ResourceTypes())
	}
	checkPermissionsCover(t, EC2IMDSv2Definition(), reflect.TypeFor[IMDSv2EC2API](), reflect.TypeFor[IMDSv2MetricsAPI]())
	for d, want := range map[time.Duration]string{24 * time.Hour: "1 day", 14 * 24 * time.Hour: "14 days", 6 * time.Hour: "6h0m0s"} {
		if got := days(d); got != want {
			t.Errorf("days(%v) = %q, want %q", d, got, want)
		}
	}
}
