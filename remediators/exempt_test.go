package remediators

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/remediation"
)

var (
	_ remediation.Exempter = (*S3PublicAccessBlock)(nil)
	_ remediation.Exempter = (*S3Encryption)(nil)
	_ remediation.Exempter = (*S3SSLRequestsOnly)(nil)
	_ remediation.Exempter = (*EC2IMDSv2)(nil)
	_ remediation.Exempter = (*EC2SecurityGroupIngress)(nil)
	_ remediation.Exempter = (*EBSEncryption)(nil)
)

// revertedAt is fixedNow as the reverted-at tag holds it.
const revertedAt = "2026-11-20T09:14:30Z"

// taggingS3 is fakeS3 with PutBucketTagging: the set it is given replaces
// the bucket's, as on S3, and S3's own checks are made: a set must keep
// the aws: tags the bucket has and hold at most 50 others.
type taggingS3 struct {
	*fakeS3
	puts []*s3.PutBucketTaggingInput
}

func (f *taggingS3) PutBucketTagging(_ context.Context, in *s3.PutBucketTaggingInput, optFns ...func(*s3.Options)) (*s3.PutBucketTaggingOutput, error) {
	f.puts = append(f.puts, in)
	if err := f.begin("PutBucketTagging", in.Bucket, optFns); err != nil {
		return nil, err
	}
	user := 0
	for _, t := range in.Tagging.TagSet {
		if !strings.HasPrefix(aws.ToString(t.Key), "aws:") {
			user++
		}
	}
	for _, t := range f.tags {
		if k := aws.ToString(t.Key); strings.HasPrefix(k, "aws:") && !hasS3Tag(in.Tagging.TagSet, k, aws.ToString(t.Value)) {
			return nil, apiErr("InvalidTag") // System tags cannot be removed by requester
		}
	}
	if user > 50 {
		return nil, apiErr("BadRequest")
	}
	f.tags = in.Tagging.TagSet
	return &s3.PutBucketTaggingOutput{}, nil
}

func hasS3Tag(tags []s3types.Tag, k, v string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == k {
			return aws.ToString(t.Value) == v
		}
	}
	return false
}

func s3Tags(kv ...string) []s3types.Tag {
	var tags []s3types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, s3types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return tags
}

func manyS3Tags(n int) []s3types.Tag {
	var tags []s3types.Tag
	for i := range n {
		tags = append(tags, s3types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	return tags
}

func bucketExemptRequest(mode remediation.Mode) remediation.ExemptRequest {
	return remediation.ExemptRequest{Mode: mode, At: fixedNow, Outcome: remediation.Outcome{Remediator: S3PublicAccessBlockName,
		ResourceType: ResourceTypeBucket, ResourceID: testBucket, Account: testAccount, Region: testRegion, Action: remediation.ActionRemediated}}
}

func TestExemptBucketMergesTags(t *testing.T) {
	f := &taggingS3{fakeS3: newFakeS3(t)}
	f.tags = s3Tags("team", "data", "aws:cloudformation:stack-name", "web", "auto-remediation", "on")
	r := NewS3PublicAccessBlock(f, testOptions())
	res := r.Exempt(context.Background(), bucketExemptRequest(remediation.ModeEnforce))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(f.puts) != 1 {
		t.Fatalf("puts %d", len(f.puts))
	}
	got := f.puts[0].Tagging.TagSet
	if len(got) != 4 || !hasS3Tag(got, "team", "data") || !hasS3Tag(got, "aws:cloudformation:stack-name", "web") ||
		!hasS3Tag(got, "auto-remediation", "off") || !hasS3Tag(got, TagRevertedAt, revertedAt) {
		t.Errorf("put tag set %v", tagList(got))
	}
	if res.Tags["auto-remediation"] != "off" || res.Tags[TagRevertedAt] != revertedAt || len(res.Tags) != 2 {
		t.Errorf("tags %v", res.Tags)
	}
	if !strings.Contains(res.Reason, `tagged bucket "example-public-bucket" auto-remediation=off, autoremediate:reverted-at=`+revertedAt) ||
		!strings.Contains(res.Reason, "it was auto-remediation=on") {
		t.Errorf("reason %q", res.Reason)
	}
	// The remediator's own check now finds the bucket exempt.
	if out := r.Remediate(context.Background(), remediation.Request{ResourceType: ResourceTypeBucket, ResourceID: testBucket, Region: testRegion, Mode: remediation.ModeEnforce}); out.Action != remediation.ActionExempt {
		t.Errorf("after the tag the remediator answers %s %q", out.Action, out.Reason)
	}
}

func TestExemptBucketCases(t *testing.T) {
	for name, c := range map[string]struct {
		tags    []s3types.Tag
		errs    map[string]error
		opts    func(*Options)
		mode    remediation.Mode
		put     []string // key=value pairs the put's set must hold; nil: no put
		setLen  int
		tags2   map[string]string
		says    string
		errSays string
	}{
		"no tags (NoSuchTagSet)": {put: []string{"auto-remediation=off", TagRevertedAt + "=" + revertedAt}, setLen: 2,
			tags2: map[string]string{"auto-remediation": "off", TagRevertedAt: revertedAt}, says: "tagged bucket"},
		"the configured key": {opts: func(o *Options) { o.ExemptTagKey = "keep-out" }, put: []string{"keep-out=off"}, setLen: 2,
			tags2: map[string]string{"keep-out": "off", TagRevertedAt: revertedAt}, says: "keep-out=off"},
		"already exempt: the owner's value stays": {tags: s3Tags("auto-remediation", "False"), put: []string{"auto-remediation=False"}, setLen: 2,
			tags2: map[string]string{"auto-remediation": "False", TagRevertedAt: revertedAt}},
		"an earlier undo's time is replaced": {tags: s3Tags("auto-remediation", "off", TagRevertedAt, "2025-01-01T00:00:00Z"),
			put: []string{TagRevertedAt + "=" + revertedAt}, setLen: 2, tags2: map[string]string{"auto-remediation": "off", TagRevertedAt: revertedAt}},
		"room for one: the exemption only": {tags: manyS3Tags(49), put: []string{"auto-remediation=off", "k48=v"}, setLen: 50,
			tags2: map[string]string{"auto-remediation": "off"}, says: "no room for " + TagRevertedAt},
		"aws: tags do not count": {tags: append(manyS3Tags(48), s3Tags("aws:cloudformation:stack-id", "x", "aws:cloudformation:logical-id", "y")...),
			put: []string{"auto-remediation=off", "aws:cloudformation:stack-id=x"}, setLen: 52, tags2: map[string]string{"auto-remediation": "off", TagRevertedAt: revertedAt}},
		"full": {tags: manyS3Tags(50), errSays: "the bucket has 50 tags, the most S3 allows; remove one, or undo with --no-exempt"},
		"full but the key is there": {tags: append(manyS3Tags(49), s3Tags("auto-remediation", "on")...), put: []string{"auto-remediation=off"}, setLen: 50,
			tags2: map[string]string{"auto-remediation": "off"}, says: "no room for"},
		"reading denied": {errs: map[string]error{"GetBucketTagging": apiErr("AccessDenied")}, errSays: `reading tags of bucket "example-public-bucket" to add auto-remediation=off: api error AccessDenied`},
		"writing denied": {errs: map[string]error{"PutBucketTagging": apiErr("AccessDenied")}, put: []string{"auto-remediation=off"}, setLen: 2,
			errSays: `tagging bucket "example-public-bucket" auto-remediation=off, ` + TagRevertedAt + "=" + revertedAt + ": api error AccessDenied"},
		"dry-run calls nothing": {mode: remediation.ModeDryRun, says: `would tag bucket "example-public-bucket" auto-remediation=off`},
	} {
		t.Run(name, func(t *testing.T) {
			f := &taggingS3{fakeS3: newFakeS3(t)}
			f.tags = c.tags
			for k, v := range c.errs {
				f.errs[k] = v
			}
			o := testOptions()
			if c.opts != nil {
				c.opts(&o)
			}
			mode := c.mode
			if mode == "" {
				mode = remediation.ModeEnforce
			}
			res := NewS3Encryption(f, o).Exempt(context.Background(), bucketExemptRequest(mode))
			if (res.Err != nil) != (c.errSays != "") || (res.Err != nil && !strings.Contains(res.Err.Error(), c.errSays)) {
				t.Errorf("error %v, want one saying %q", res.Err, c.errSays)
			}
			if res.Err != nil && (res.Tags != nil || res.Reason != res.Err.Error()) {
				t.Errorf("failed result %+v", res)
			}
			if c.put == nil {
				if len(f.puts) != 0 {
					t.Errorf("put %v", tagList(f.puts[0].Tagging.TagSet))
				}
			} else {
				if len(f.puts) != 1 {
					t.Fatalf("%d puts, want 1", len(f.puts))
				}
				set := f.puts[0].Tagging.TagSet
				for _, kv := range c.put {
					k, v, _ := strings.Cut(kv, "=")
					if !hasS3Tag(set, k, v) {
						t.Errorf("put set %v lacks %s", tagList(set), kv)
					}
				}
				if len(set) != c.setLen {
					t.Errorf("put set has %d tags, want %d: %v", len(set), c.setLen, tagList(set))
				}
			}
			if c.errSays == "" && mode == remediation.ModeEnforce && fmt.Sprint(res.Tags) != fmt.Sprint(c.tags2) {
				t.Errorf("tags %v, want %v", res.Tags, c.tags2)
			}
			if mode == remediation.ModeDryRun && (len(f.names()) != 0 || res.Tags != nil) {
				t.Errorf("dry-run called %v, tags %v", f.names(), res.Tags)
			}
			if !strings.Contains(res.Reason, c.says) {
				t.Errorf("reason %q, want it to say %q", res.Reason, c.says)
			}
		})
	}
}

// A client without PutBucketTagging (a fake, or a narrower wrapper) is a
// clear error, not a panic.
func TestExemptBucketWithoutTaggingClient(t *testing.T) {
	res := NewS3SSLRequestsOnly(nil, testOptions()).Exempt(context.Background(), bucketExemptRequest(remediation.ModeEnforce))
	if res.Err == nil || !strings.Contains(res.Err.Error(), "cannot put bucket tags") {
		t.Errorf("result %+v", res)
	}
}

func tagList(tags []s3types.Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return out
}

// taggingEC2 answers CreateTags for one resource, which has userTags
// tags already (EC2's limit is 50, aws: ones not counted).
type taggingEC2 struct {
	t testing.TB
	calls
	id       string
	userTags int
	errs     map[string]error
	creates  []*ec2.CreateTagsInput
}

func (f *taggingEC2) CreateTags(_ context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	f.creates = append(f.creates, in)
	if err := beginEC2(f.t, &f.calls, testRegion, f.errs, "CreateTags", optFns); err != nil {
		return nil, err
	}
	if len(in.Resources) != 1 || in.Resources[0] != f.id {
		f.t.Errorf("CreateTags on %v, want [%s]", in.Resources, f.id)
	}
	if f.userTags+len(in.Tags) > 50 {
		return nil, apiErr("TagLimitExceeded")
	}
	f.userTags += len(in.Tags)
	return &ec2.CreateTagsOutput{}, nil
}

func ec2TagList(tags []ec2types.Tag) string {
	var out []string
	for _, t := range tags {
		out = append(out, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(out, ",")
}

func TestExemptEC2Resources(t *testing.T) {
	for name, c := range map[string]struct {
		build    func(f *taggingEC2) remediation.Exempter
		rtype    string
		id       string
		userTags int
		errs     map[string]error
		creates  []string // each CreateTags request's tags
		says     string
		errSays  string
	}{
		"instance": {build: func(f *taggingEC2) remediation.Exempter {
			return NewEC2IMDSv2(struct {
				IMDSv2EC2API
				*taggingEC2
			}{taggingEC2: f}, nil, testOptions())
		}, rtype: ResourceTypeInstance, id: testInstance,
			creates: []string{"auto-remediation=off," + TagRevertedAt + "=" + revertedAt},
			says:    "tagged instance " + testInstance + " auto-remediation=off, " + TagRevertedAt + "=" + revertedAt},
		"security group": {build: func(f *taggingEC2) remediation.Exempter {
			return NewEC2SecurityGroupIngress(struct {
				SecurityGroupIngressAPI
				*taggingEC2
			}{taggingEC2: f}, testOptions())
		}, rtype: ResourceTypeSecurityGroup, id: "sg-0123456789abcdef0",
			creates: []string{"auto-remediation=off," + TagRevertedAt + "=" + revertedAt}, says: "tagged security group sg-0123456789abcdef0"},
		"room for one": {build: func(f *taggingEC2) remediation.Exempter {
			return NewEC2SecurityGroupIngress(struct {
				SecurityGroupIngressAPI
				*taggingEC2
			}{taggingEC2: f}, testOptions())
		}, rtype: ResourceTypeSecurityGroup, id: "sg-0123456789abcdef0", userTags: 49,
			creates: []string{"auto-remediation=off," + TagRevertedAt + "=" + revertedAt, "auto-remediation=off"},
			says:    "no room for " + TagRevertedAt + ": the security group has 50 tags"},
		"full": {build: func(f *taggingEC2) remediation.Exempter {
			return NewEC2IMDSv2(struct {
				IMDSv2EC2API
				*taggingEC2
			}{taggingEC2: f}, nil, testOptions())
		}, rtype: ResourceTypeInstance, id: testInstance, userTags: 50,
			creates: []string{"auto-remediation=off," + TagRevertedAt + "=" + revertedAt, "auto-remediation=off"},
			errSays: "tagging instance " + testInstance + " auto-remediation=off: it has 50 tags, the most EC2 allows; remove one, or undo with --no-exempt"},
		"denied": {build: func(f *taggingEC2) remediation.Exempter {
			return NewEC2IMDSv2(struct {
				IMDSv2EC2API
				*taggingEC2
			}{taggingEC2: f}, nil, testOptions())
		}, rtype: ResourceTypeInstance, id: testInstance, errs: map[string]error{"CreateTags": apiErr("UnauthorizedOperation")},
			creates: []string{"auto-remediation=off," + TagRevertedAt + "=" + revertedAt},
			errSays: "tagging instance " + testInstance + " auto-remediation=off, " + TagRevertedAt + "=" + revertedAt + ": api error UnauthorizedOperation"},
		"a client that cannot tag": {build: func(f *taggingEC2) remediation.Exempter { return NewEC2IMDSv2(newFakeEC2(t), nil, testOptions()) },
			rtype: ResourceTypeInstance, id: testInstance, errSays: "the EC2 client cannot create tags"},
	} {
		t.Run(name, func(t *testing.T) {
			f := &taggingEC2{t: t, id: c.id, userTags: c.userTags, errs: c.errs}
			req := remediation.ExemptRequest{Mode: remediation.ModeEnforce, At: fixedNow, Outcome: remediation.Outcome{ResourceType: c.rtype, ResourceID: c.id, Region: testRegion}}
			res := c.build(f).Exempt(context.Background(), req)
			var got []string
			for _, in := range f.creates {
				got = append(got, ec2TagList(in.Tags))
			}
			if strings.Join(got, " | ") != strings.Join(c.creates, " | ") {
				t.Errorf("CreateTags requests %v, want %v", got, c.creates)
			}
			if (res.Err != nil) != (c.errSays != "") || (res.Err != nil && !strings.Contains(res.Err.Error(), c.errSays)) {
				t.Errorf("error %v, want one saying %q", res.Err, c.errSays)
			}
			if c.errSays == "" && (res.Tags["auto-remediation"] != "off" || !strings.Contains(res.Reason, c.says)) {
				t.Errorf("result %+v, want it to say %q", res, c.says)
			}
			// dry-run: nothing called
			f.creates = nil
			req.Mode = remediation.ModeDryRun
			if res := c.build(f).Exempt(context.Background(), req); len(f.creates) != 0 || res.Err != nil || !strings.Contains(res.Reason, "would tag") {
				t.Errorf("dry-run: %+v, %d calls", res, len(f.creates))
			}
		})
	}
}

// A migrated volume swapped back is tagged; the account's EBS default
// cannot be, and the reason says what keeps the pipeline off it.
func TestExemptEBS(t *testing.T) {
	f := newMigFake(t)
	id := f.addVolume("", "", ec2types.Tag{Key: aws.String("team"), Value: aws.String("data")})
	r := &EBSEncryption{Volumes: f, Opts: testOptions()}
	res := r.Exempt(context.Background(), remediation.ExemptRequest{Mode: remediation.ModeEnforce, At: fixedNow,
		Outcome: remediation.Outcome{ResourceType: ResourceTypeVolume, ResourceID: id, Region: testRegion}})
	if res.Err != nil || !strings.Contains(res.Reason, "tagged volume "+id) {
		t.Fatalf("result %+v", res)
	}
	if tags := f.vols[id].Tags; !hasTag(tags, "auto-remediation", "off") || !hasTag(tags, TagRevertedAt, revertedAt) || !hasTag(tags, "team", "data") {
		t.Errorf("volume tags %s", ec2TagList(tags))
	}

	f.errs = map[string]error{}
	before := len(f.names())
	res = r.Exempt(context.Background(), remediation.ExemptRequest{Mode: remediation.ModeEnforce, At: fixedNow,
		Outcome: remediation.Outcome{ResourceType: ResourceTypeAccount, ResourceID: testAccount, Region: testRegion}})
	if res.Err != nil || res.Tags != nil || len(f.names()) != before {
		t.Errorf("account: %+v, calls %v", res, f.names()[before:])
	}
	for _, want := range []string{"carries no tag", "REMEDIATOR_MODES=ebs-encryption=dry-run", "ENABLED_REMEDIATORS", "in " + testRegion} {
		if !strings.Contains(res.Reason, want) {
			t.Errorf("account reason %q does not say %q", res.Reason, want)
		}
	}

	if res := (&EBSEncryption{Opts: testOptions()}).Exempt(context.Background(), remediation.ExemptRequest{Mode: remediation.ModeEnforce,
		Outcome: remediation.Outcome{ResourceType: ResourceTypeVolume, ResourceID: id, Region: testRegion}}); res.Err == nil {
		t.Errorf("no volume client: %+v", res)
	}
}

// docs/undo.md says which tagging calls the pipeline's roles already
// allow: ec2:CreateTags on volumes (the migration's), unconditioned, and
// neither s3:PutBucketTagging nor ec2:CreateTags on instances or security
// groups. A change to the policies must change that table too.
func TestExemptPermissionsAsDocumented(t *testing.T) {
	volumes, other := false, []string{}
	for _, d := range Definitions() {
		for _, p := range d.Permissions {
			for _, a := range p.Actions {
				if a != "ec2:CreateTags" && a != "s3:PutBucketTagging" && a != "s3:*" && a != "ec2:*" {
					continue
				}
				for _, r := range p.Resources {
					switch {
					case a == "ec2:CreateTags" && strings.HasSuffix(r, ":volume/*") && len(p.Conditions) == 0:
						volumes = true
					case a == "ec2:CreateTags" && (strings.HasSuffix(r, ":volume/*") || strings.HasSuffix(r, "::snapshot/*")):
					default:
						other = append(other, d.Name+" "+a+" on "+r)
					}
				}
			}
		}
	}
	if !volumes {
		t.Error("no remediator is allowed ec2:CreateTags on volumes without a condition: docs/undo.md says a volume's exemption needs nothing more")
	}
	if len(other) > 0 {
		t.Errorf("tagging is granted beyond volumes (%v): update docs/undo.md's table of what the exemption needs", other)
	}
}
