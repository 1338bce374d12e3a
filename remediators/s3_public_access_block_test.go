package remediators

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

const publicReadRule = "s3-bucket-public-read-prohibited"

func pab(acls, ignore, policy, restrict bool) *s3types.PublicAccessBlockConfiguration {
	return &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(acls), IgnorePublicAcls: aws.Bool(ignore),
		BlockPublicPolicy: aws.Bool(policy), RestrictPublicBuckets: aws.Bool(restrict)}
}

func runPAB(t *testing.T, f *fakeS3, opts Options, mode remediation.Mode) remediation.Result {
	t.Helper()
	r := NewS3PublicAccessBlock(f, opts)
	return r.Remediate(context.Background(), request(publicReadRule, "AWS::S3::Bucket", testBucket, mode))
}

// checkPABPut asserts the one write: this bucket, all four flags true.
func checkPABPut(t *testing.T, f *fakeS3) {
	t.Helper()
	if len(f.pabPuts) != 1 {
		t.Fatalf("%d PutPublicAccessBlock calls, want 1", len(f.pabPuts))
	}
	in := f.pabPuts[0]
	if aws.ToString(in.Bucket) != testBucket {
		t.Errorf("Bucket = %q", aws.ToString(in.Bucket))
	}
	c := in.PublicAccessBlockConfiguration
	if c == nil {
		t.Fatal("no PublicAccessBlockConfiguration")
	}
	for name, v := range map[string]*bool{"BlockPublicAcls": c.BlockPublicAcls, "IgnorePublicAcls": c.IgnorePublicAcls,
		"BlockPublicPolicy": c.BlockPublicPolicy, "RestrictPublicBuckets": c.RestrictPublicBuckets} {
		if v == nil || !*v {
			t.Errorf("%s = %v, want true", name, v)
		}
	}
	if in.ChecksumAlgorithm != "" || in.ExpectedBucketOwner != nil || in.ContentMD5 != nil {
		t.Errorf("unexpected extra request fields: %+v", in)
	}
}

func TestPABRemediatesNoConfiguration(t *testing.T) {
	f := newFakeS3(t)
	res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated || res.Err != nil {
		t.Fatalf("result = %+v", res)
	}
	checkPABPut(t, f)
	want := []string{"GetPublicAccessBlock", "GetBucketTagging", "GetBucketWebsite", "PutPublicAccessBlock", "GetPublicAccessBlock"}
	if got := f.names(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls = %v, want %v (write then verify read)", got, want)
	}
	if res.Before["configured"] != false || res.Before["blockPublicAcls"] != false {
		t.Errorf("Before = %v", res.Before)
	}
	for _, k := range []string{"blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets", "configured"} {
		if res.After[k] != true {
			t.Errorf("After[%s] = %v", k, res.After[k])
		}
	}
	if !strings.Contains(res.Reason, "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets") {
		t.Errorf("Reason = %q", res.Reason)
	}
}

func TestPABRemediatesPartialConfiguration(t *testing.T) {
	f := newFakeS3(t)
	f.pab = pab(true, true, false, true)
	res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionRemediated {
		t.Fatalf("result = %+v", res)
	}
	checkPABPut(t, f)
	if res.Reason != "turned on BlockPublicPolicy" {
		t.Errorf("Reason = %q", res.Reason)
	}
	if res.Before["configured"] != true || res.Before["blockPublicPolicy"] != false || res.Before["blockPublicAcls"] != true {
		t.Errorf("Before = %v", res.Before)
	}
}

func TestPABAlreadyCompliant(t *testing.T) {
	f := newFakeS3(t)
	f.pab = pab(true, true, true, true)
	res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionCompliant {
		t.Fatalf("result = %+v", res)
	}
	if got := f.names(); !reflect.DeepEqual(got, []string{"GetPublicAccessBlock"}) {
		t.Errorf("calls = %v, want only the read", got)
	}
	if !reflect.DeepEqual(res.Before, res.After) {
		t.Errorf("Before %v != After %v", res.Before, res.After)
	}
}

func TestPABExemptTag(t *testing.T) {
	cases := []struct {
		name, key string
		tags      []s3types.Tag
		exempt    bool
	}{
		{"off", "", []s3types.Tag{tag("team", "web"), tag("auto-remediation", "off")}, true},
		{"false", "", []s3types.Tag{tag("auto-remediation", "false")}, true},
		{"OFF", "", []s3types.Tag{tag("auto-remediation", "OFF")}, true},
		{"False with spaces", "", []s3types.Tag{tag("auto-remediation", " False ")}, true},
		{"configured key", "security:remediate", []s3types.Tag{tag("security:remediate", "off")}, true},
		{"default key ignored when another is configured", "security:remediate", []s3types.Tag{tag("auto-remediation", "off")}, false},
		{"on", "", []s3types.Tag{tag("auto-remediation", "on")}, false},
		{"value on another key", "", []s3types.Tag{tag("owner", "off")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3(t)
			f.tags = tc.tags
			opts := testOptions()
			if tc.key != "" {
				opts.ExemptTagKey = tc.key
			}
			res := runPAB(t, f, opts, remediation.ModeEnforce)
			if !tc.exempt {
				if res.Action != remediation.ActionRemediated {
					t.Errorf("result = %+v, want remediated", res)
				}
				return
			}
			if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, "exempts") {
				t.Errorf("result = %+v, want exempt", res)
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("write calls %v on an exempt bucket", w)
			}
			if f.count("GetBucketWebsite") != 0 {
				t.Error("website read after the exemption was found")
			}
		})
	}
}

func TestPABWebsiteGuard(t *testing.T) {
	f := newFakeS3(t)
	f.website = &s3.GetBucketWebsiteOutput{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}
	res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, "static website") ||
		!strings.Contains(res.Reason, `"index.html"`) || !strings.Contains(res.Reason, "S3_WEBSITE_GUARD=false") {
		t.Errorf("result = %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v on a website bucket", f.writes())
	}

	f = newFakeS3(t)
	f.website = &s3.GetBucketWebsiteOutput{RedirectAllRequestsTo: &s3types.RedirectAllRequestsTo{HostName: aws.String("example.com")}}
	res = runPAB(t, f, testOptions(), remediation.ModeEnforce)
	if res.Action != remediation.ActionExempt || !strings.Contains(res.Reason, "redirect to example.com") {
		t.Errorf("redirect bucket: %+v", res)
	}

	t.Run("guard off", func(t *testing.T) {
		f := newFakeS3(t)
		f.website = &s3.GetBucketWebsiteOutput{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}}
		opts := testOptions()
		opts.WebsiteGuard = false
		res := runPAB(t, f, opts, remediation.ModeEnforce)
		if res.Action != remediation.ActionRemediated {
			t.Fatalf("result = %+v", res)
		}
		checkPABPut(t, f)
		if f.count("GetBucketWebsite") != 0 {
			t.Error("website read with the guard off")
		}
	})
}

func TestPABDryRun(t *testing.T) {
	f := newFakeS3(t)
	f.pab = pab(false, true, true, true)
	res := runPAB(t, f, testOptions(), remediation.ModeDryRun)
	if res.Action != remediation.ActionDryRun || res.Reason != "would turn on BlockPublicAcls" {
		t.Fatalf("result = %+v", res)
	}
	if len(f.writes()) != 0 {
		t.Errorf("writes %v in dry-run", f.writes())
	}
	if res.After["blockPublicAcls"] != true || res.Before["blockPublicAcls"] != false {
		t.Errorf("Before %v After %v", res.Before, res.After)
	}
}

func TestPABGone(t *testing.T) {
	for _, at := range []string{"GetPublicAccessBlock", "GetBucketTagging", "GetBucketWebsite", "PutPublicAccessBlock"} {
		t.Run(at, func(t *testing.T) {
			f := newFakeS3(t)
			f.errs[at] = apiErr("NoSuchBucket")
			res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
			if res.Action != remediation.ActionGone || res.Err != nil || !strings.Contains(res.Reason, testBucket) {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestPABAPIErrors(t *testing.T) {
	cases := []struct{ at, want string }{
		{"GetPublicAccessBlock", "reading public access block of bucket"},
		{"GetBucketTagging", "reading tags of bucket"},
		{"GetBucketWebsite", "reading website configuration of bucket"},
		{"PutPublicAccessBlock", "putting public access block on bucket"},
		{"GetPublicAccessBlock#2", "verifying public access block of bucket"},
	}
	for _, tc := range cases {
		t.Run(tc.at, func(t *testing.T) {
			f := newFakeS3(t)
			f.errs[tc.at] = apiErr("AccessDenied")
			res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
			checkFailed(t, res, "AccessDenied", tc.want, `"`+testBucket+`"`)
			if tc.at != "GetPublicAccessBlock" && res.Before == nil {
				t.Error("Before lost on failure")
			}
		})
	}
}

func TestPABVerifyMismatch(t *testing.T) {
	f := newFakeS3(t)
	f.pab = pab(true, false, true, true)
	f.dropWrites = true
	res := runPAB(t, f, testOptions(), remediation.ModeEnforce)
	checkFailed(t, res, "", "verifying public access block", "still off after the write: IgnorePublicAcls")
	checkPABPut(t, f)
}

func TestPABDescribe(t *testing.T) {
	r := NewS3PublicAccessBlock(nil, Options{})
	if r.Name() != S3PublicAccessBlockName || !reflect.DeepEqual(r.ResourceTypes(), []string{"AWS::S3::Bucket"}) {
		t.Errorf("Name %q ResourceTypes %v", r.Name(), r.ResourceTypes())
	}
	checkPermissionsCover(t, S3PublicAccessBlockDefinition(), reflect.TypeFor[S3PublicAccessBlockAPI]())
}
