package cloudtrailproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/autoremediate/autoremediate/events"
)

const (
	testAccount = "123456789012"
	developer   = "arn:aws:iam::123456789012:role/developer"
	pipeline    = "arn:aws:iam::123456789012:role/autoremediate-remediate"
)

// sent is one request as the client sent it or the backend received it.
type sent struct {
	method, path, query, host, auth string
	body                            []byte
}

func snapshot(r *http.Request, body []byte) sent {
	host := r.Host // a server's request
	if host == "" {
		host = r.URL.Host // a client's
	}
	return sent{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, host: host, auth: r.Header.Get("Authorization"), body: body}
}

func (s sent) String() string {
	return fmt.Sprintf("%s %s?%s (Host %s, Authorization %q) %q", s.method, s.path, s.query, s.host, s.auth, s.body)
}

// recordingTransport remembers what the client sends.
type recordingTransport struct {
	mu   sync.Mutex
	last sent
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	t.mu.Lock()
	t.last = snapshot(r, body)
	t.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (t *recordingTransport) sent() sent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// fakeEmulator answers S3 and EC2 calls as moto does (the EC2 answers are
// moto's XML) and remembers what it received. Calls on "denied" resources
// fail as AWS fails them.
type fakeEmulator struct {
	t        *testing.T
	mu       sync.Mutex
	received []sent
	next     int
}

func (f *fakeEmulator) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s-%017x", prefix, f.next)
}

func (f *fakeEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("backend: reading the body: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received = append(f.received, snapshot(r, body))
	sig, _ := parseSignature(r)
	if sig.service == "s3" {
		switch {
		case strings.Contains(r.URL.Path, "denied"):
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.Method == http.MethodGet:
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>x</ID></Owner><AccessControlList/></AccessControlPolicy>`)
		default:
			w.Header().Set("x-amz-id-2", "fakeId2")
		}
		return
	}
	form, _ := url.ParseQuery(string(body))
	if strings.Contains(string(body), "denied") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>not found</Message></Error></Errors><RequestID>x</RequestID></Response>`)
		return
	}
	action := form.Get("Action")
	ns := ` xmlns="http://ec2.amazonaws.com/doc/2016-11-15"`
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<%sResponse%s>`, action, ns)
	switch action {
	case "RunInstances":
		n, _ := strconv.Atoi(form.Get("MaxCount"))
		fmt.Fprint(w, `<reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>`)
		for range n {
			fmt.Fprintf(w, `<item><instanceId>%s</instanceId><imageId>%s</imageId><instanceState><code>0</code><name>pending</name></instanceState><amiLaunchIndex>0</amiLaunchIndex><productCodes/></item>`,
				f.id("i"), form.Get("ImageId"))
		}
		fmt.Fprint(w, `</instancesSet>`)
	case "ModifyInstanceMetadataOptions":
		fmt.Fprintf(w, `<instanceId>%s</instanceId><instanceMetadataOptions><state>applied</state><httpTokens>%s</httpTokens></instanceMetadataOptions>`,
			form.Get("InstanceId"), form.Get("HttpTokens"))
	case "DisableEbsEncryptionByDefault":
		fmt.Fprint(w, `<ebsEncryptionByDefault>false</ebsEncryptionByDefault>`)
	case "ModifyEbsDefaultKmsKeyId":
		fmt.Fprintf(w, `<kmsKeyId>%s</kmsKeyId>`, form.Get("KmsKeyId"))
	case "CreateVolume":
		fmt.Fprintf(w, `<volumeId>%s</volumeId><size>%s</size><availabilityZone>%s</availabilityZone><encrypted>false</encrypted><attachmentSet/>`,
			f.id("vol"), form.Get("Size"), form.Get("AvailabilityZone"))
	case "AuthorizeSecurityGroupIngress":
		group := form.Get("GroupId")
		if group == "" {
			group = "sg-0000000000000named" // moto looks the group up by name
		}
		fmt.Fprintf(w, `<return>true</return><securityGroupRuleSet><item><securityGroupRuleId>sgr-1</securityGroupRuleId><groupId>%s</groupId><isEgress>false</isEgress><fromPort>22</fromPort></item></securityGroupRuleSet>`, group)
	case "ModifySecurityGroupRules":
		fmt.Fprint(w, `<return>true</return>`)
	case "DescribeInstances":
		fmt.Fprint(w, `<reservationSet/>`)
	}
	fmt.Fprintf(w, `<requestId>request-id</requestId></%sResponse>`, action)
}

// capture is a Sink that keeps the events.
type capture struct {
	mu     sync.Mutex
	events []Event
}

func (c *capture) Put(_ context.Context, ev Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	return nil
}

func (c *capture) take() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.events
	c.events = nil
	return out
}

type rig struct {
	backend *fakeEmulator
	client  *recordingTransport
	sink    *capture
	proxy   *Server
	mu      sync.Mutex
	errs    []error
}

func (r *rig) reported() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	backend := &fakeEmulator{t: t}
	srv := httptest.NewServer(backend)
	t.Cleanup(srv.Close)
	r := &rig{backend: backend, client: &recordingTransport{}, sink: &capture{}}
	p, err := Start(Options{Target: srv.URL, Sink: r.sink, Account: testAccount, Region: "us-east-1",
		Identities: map[string]Identity{"AKIDALICE": AssumedRole(developer, "alice"), "AKIDPIPELINE": AssumedRole(pipeline, "autoremediate-remediate")},
		OnError:    func(err error) { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	r.proxy = p
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func (r *rig) config(key, region string) aws.Config {
	return aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(key, "secret", ""),
		BaseEndpoint: aws.String(r.proxy.URL), HTTPClient: &http.Client{Transport: r.client}, RetryMaxAttempts: 1}
}

// parsed checks that the proxy's event parses as EventBridge would deliver
// it and returns it.
func parsed(t *testing.T, ev Event) *events.CloudTrailEvent {
	t.Helper()
	raw, err := EventJSON(ev, "6a7e8feb-0000-4000-8000-000000000001", testAccount, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	ct, err := events.ParseCloudTrail(raw)
	if err != nil {
		t.Fatalf("the %s event does not parse: %v\n%s", ev.EventName, err, raw)
	}
	return ct
}

// Each call the remediators' Triggers list, made with the SDK through the
// proxy: forwarded unchanged, recorded as one event that parses and names
// the resources the call touched (read from the call's own answer), the
// actor, the account, the signing region and the call's time.
func TestEveryTriggerCallIsRecorded(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	cfg := r.config("AKIDALICE", "eu-west-1")
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ec2c := ec2.NewFromConfig(cfg)
	bucket := func(name string) []events.Resource {
		return []events.Resource{{Type: events.ResourceTypeS3Bucket, ID: name}}
	}
	sg := func(id string) []events.Resource {
		return []events.Resource{{Type: events.ResourceTypeEC2SecurityGroup, ID: id}}
	}
	account := []events.Resource{{Type: events.ResourceTypeAccount, ID: testAccount}}
	open := &s3types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(false), IgnorePublicAcls: aws.Bool(false),
		BlockPublicPolicy: aws.Bool(false), RestrictPublicBuckets: aws.Bool(false)}
	cases := []struct {
		call string
		// do makes the call and returns the resources its answer names.
		do func() ([]events.Resource, error)
	}{
		{"CreateBucket", func() ([]events.Resource, error) {
			_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("b-create"), ACL: s3types.BucketCannedACLPublicRead})
			return bucket("b-create"), err
		}},
		{"PutBucketAcl", func() ([]events.Resource, error) {
			_, err := s3c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("b-acl"), ACL: s3types.BucketCannedACLPublicRead})
			return bucket("b-acl"), err
		}},
		{"PutBucketPolicy", func() ([]events.Resource, error) {
			_, err := s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("b-policy"),
				Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b-policy/*"}]}`)})
			return bucket("b-policy"), err
		}},
		{"DeleteBucketPolicy", func() ([]events.Resource, error) {
			_, err := s3c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("b-policy")})
			return bucket("b-policy"), err
		}},
		{"PutBucketPublicAccessBlock", func() ([]events.Resource, error) {
			_, err := s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("b-pab"), PublicAccessBlockConfiguration: open})
			return bucket("b-pab"), err
		}},
		{"DeleteBucketPublicAccessBlock", func() ([]events.Resource, error) {
			_, err := s3c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: aws.String("b-pab")})
			return bucket("b-pab"), err
		}},
		{"PutBucketEncryption", func() ([]events.Resource, error) {
			_, err := s3c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("b-enc"),
				ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{Rules: []s3types.ServerSideEncryptionRule{
					{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}})
			return bucket("b-enc"), err
		}},
		{"DeleteBucketEncryption", func() ([]events.Resource, error) {
			_, err := s3c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String("b-enc")})
			return bucket("b-enc"), err
		}},
		{"RunInstances", func() ([]events.Resource, error) {
			out, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(3), MaxCount: aws.Int32(3)})
			if err != nil {
				return nil, err
			}
			var rs []events.Resource
			for _, in := range out.Instances {
				rs = append(rs, events.Resource{Type: events.ResourceTypeEC2Instance, ID: aws.ToString(in.InstanceId)})
			}
			return rs, nil
		}},
		{"ModifyInstanceMetadataOptions", func() ([]events.Resource, error) {
			out, err := ec2c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-0a1b2c3d4e5f60001"),
				HttpTokens: ec2types.HttpTokensStateOptional})
			if err != nil {
				return nil, err
			}
			return []events.Resource{{Type: events.ResourceTypeEC2Instance, ID: aws.ToString(out.InstanceId)}}, nil
		}},
		{"DisableEbsEncryptionByDefault", func() ([]events.Resource, error) {
			_, err := ec2c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{})
			return account, err
		}},
		{"ModifyEbsDefaultKmsKeyId", func() ([]events.Resource, error) {
			_, err := ec2c.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: aws.String("alias/other")})
			return account, err
		}},
		{"CreateVolume", func() ([]events.Resource, error) {
			out, err := ec2c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("eu-west-1a"), Size: aws.Int32(8)})
			if err != nil {
				return nil, err
			}
			return []events.Resource{{Type: events.ResourceTypeEC2Volume, ID: aws.ToString(out.VolumeId)}}, nil
		}},
		{"AuthorizeSecurityGroupIngress", func() ([]events.Resource, error) {
			_, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-0123456789abcdef0"),
				IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
					IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}})
			return sg("sg-0123456789abcdef0"), err
		}},
		{"AuthorizeSecurityGroupIngress", func() ([]events.Resource, error) {
			// By name: the group ID is only in the answer.
			out, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupName: aws.String("web"),
				IpProtocol: aws.String("tcp"), FromPort: aws.Int32(3389), ToPort: aws.Int32(3389), CidrIp: aws.String("0.0.0.0/0")})
			if err != nil {
				return nil, err
			}
			return sg(aws.ToString(out.SecurityGroupRules[0].GroupId)), nil
		}},
		{"ModifySecurityGroupRules", func() ([]events.Resource, error) {
			_, err := ec2c.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String("sg-0123456789abcdef1"),
				SecurityGroupRules: []ec2types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String("sgr-1"),
					SecurityGroupRule: &ec2types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIpv4: aws.String("0.0.0.0/0")}}}})
			return sg("sg-0123456789abcdef1"), err
		}},
	}
	ids := map[string]bool{}
	for _, c := range cases {
		before := time.Now()
		want, err := c.do()
		after := time.Now()
		if err != nil {
			t.Fatalf("%s through the proxy: %v", c.call, err)
		}
		// Forwarded unchanged.
		r.backend.mu.Lock()
		got := r.backend.received[len(r.backend.received)-1]
		r.backend.mu.Unlock()
		if sentReq := r.client.sent(); got.method != sentReq.method || got.path != sentReq.path || got.query != sentReq.query ||
			got.host != sentReq.host || got.auth != sentReq.auth || !bytes.Equal(got.body, sentReq.body) {
			t.Errorf("%s: the emulator received %s, the client sent %s", c.call, got, sentReq)
		}
		evs := r.sink.take()
		if len(evs) != 1 {
			t.Fatalf("%s: %d events, want 1", c.call, len(evs))
		}
		ev := parsed(t, evs[0])
		if ev.Call.EventName != c.call || ev.Source != evs[0].Source || evs[0].EventName != c.call {
			t.Errorf("%s: event for %q from %s", c.call, ev.Call.EventName, ev.Source)
		}
		if got := ev.Resources(); !slices.Equal(got, want) {
			t.Errorf("%s: resources %v, want %v", c.call, got, want)
		}
		if ev.Account() != testAccount || ev.Region() != "eu-west-1" || ev.Call.RecipientAccountID != testAccount {
			t.Errorf("%s: account %s, region %s, want %s and the signing region eu-west-1", c.call, ev.Account(), ev.Region(), testAccount)
		}
		if ev.Actor() != developer+"/alice" || ev.Principal() != developer || evs[0].Principal != developer {
			t.Errorf("%s: actor %q, principal %q (event %q), want the developer role's session alice", c.call, ev.Actor(), ev.Principal(), evs[0].Principal)
		}
		if at := ev.Call.EventTime; at.Before(before.Truncate(time.Millisecond)) || at.After(after) {
			t.Errorf("%s: eventTime %s, not within the call (%s to %s)", c.call, at, before, after)
		}
		if bool(ev.Call.ReadOnly) || ev.Call.EventType != "AwsApiCall" || !bool(ev.Call.ManagementEvent) || ev.Failed() {
			t.Errorf("%s: readOnly %t, eventType %q, managementEvent %t, errorCode %q", c.call, ev.Call.ReadOnly, ev.Call.EventType, ev.Call.ManagementEvent, ev.Call.ErrorCode)
		}
		for _, id := range []string{ev.Call.EventID, ev.Call.RequestID} {
			if id == "" || ids[id] {
				t.Errorf("%s: event or request ID %q empty or used before", c.call, id)
			}
			ids[id] = true
		}
	}
	if errs := r.reported(); len(errs) > 0 {
		t.Errorf("the proxy reported errors: %v", errs)
	}
}

// The identity is the one mapped to the signing key: the assumed role's
// record has the shape the parser and the event pattern read; an unknown key
// is an IAM user.
func TestIdentities(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, c := range []struct {
		key                            string
		wantType, wantARN, wantPrinc   string
		wantIssuerName, wantActorOrARN string
	}{
		{"AKIDPIPELINE", "AssumedRole", "arn:aws:sts::123456789012:assumed-role/autoremediate-remediate/autoremediate-remediate", pipeline,
			"autoremediate-remediate", pipeline + "/autoremediate-remediate"},
		{"AKIDSOMEONE", "IAMUser", "arn:aws:iam::123456789012:user/AKIDSOMEONE", "arn:aws:iam::123456789012:user/AKIDSOMEONE", "",
			"arn:aws:iam::123456789012:user/AKIDSOMEONE"},
	} {
		s3c := s3.NewFromConfig(r.config(c.key, "us-east-1"), func(o *s3.Options) { o.UsePathStyle = true })
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("b")}); err != nil {
			t.Fatal(err)
		}
		evs := r.sink.take()
		if len(evs) != 1 {
			t.Fatalf("%s: %d events", c.key, len(evs))
		}
		ev := parsed(t, evs[0])
		id := ev.Call.UserIdentity
		if id.Type != c.wantType || id.ARN != c.wantARN || ev.Principal() != c.wantPrinc || ev.Actor() != c.wantActorOrARN ||
			id.AccountID != testAccount || id.AccessKeyID != c.key {
			t.Errorf("%s: identity %+v (principal %q, actor %q)", c.key, id, ev.Principal(), ev.Actor())
		}
		if c.wantType == "AssumedRole" {
			is := id.SessionContext.SessionIssuer
			if is.Type != "Role" || is.ARN != c.wantPrinc || is.AccountID != testAccount || is.UserName != c.wantIssuerName ||
				!strings.HasPrefix(is.PrincipalID, "AROA") || id.PrincipalID != is.PrincipalID+":"+c.wantIssuerName {
				t.Errorf("%s: session issuer %+v, principalId %q", c.key, is, id.PrincipalID)
			}
		} else if id.SessionContext != nil {
			t.Errorf("%s: an IAM user's call with a session context %+v", c.key, id.SessionContext)
		}
	}
}

// What is not recorded: failed calls, read-only calls, object-level (data)
// calls; they are forwarded all the same.
func TestUnrecordedCalls(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	cfg := r.config("AKIDALICE", "us-east-1")
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ec2c := ec2.NewFromConfig(cfg)
	calls := map[string]func() error{
		"failed PutBucketAcl": func() error {
			_, err := s3c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("denied"), ACL: s3types.BucketCannedACLPublicRead})
			if err == nil {
				return fmt.Errorf("the fake answered success")
			}
			return nil
		},
		"failed ModifyInstanceMetadataOptions": func() error {
			_, err := ec2c.ModifyInstanceMetadataOptions(ctx, &ec2.ModifyInstanceMetadataOptionsInput{InstanceId: aws.String("i-denied"), HttpTokens: ec2types.HttpTokensStateOptional})
			if err == nil {
				return fmt.Errorf("the fake answered success")
			}
			return nil
		},
		"GetBucketAcl": func() error {
			_, err := s3c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("b")})
			return err
		},
		"DescribeInstances": func() error {
			_, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
			return err
		},
		"PutObject": func() error {
			_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("data")})
			return err
		},
	}
	for name, call := range calls {
		n := len(r.backend.received)
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(r.backend.received) == n {
			t.Errorf("%s was not forwarded", name)
		}
		if evs := r.sink.take(); len(evs) != 0 {
			t.Errorf("%s recorded as %s", name, evs[0].EventName)
		}
	}
}

func TestS3Calls(t *testing.T) {
	for _, c := range []struct {
		method, path, query string
		want                string
	}{
		{"PUT", "/b", "", "CreateBucket"},
		{"DELETE", "/b", "", "DeleteBucket"},
		{"PUT", "/b", "acl=", "PutBucketAcl"},
		{"PUT", "/b", "publicAccessBlock=&x-id=PutPublicAccessBlock", "PutBucketPublicAccessBlock"},
		{"DELETE", "/b", "encryption", "DeleteBucketEncryption"},
		{"PUT", "/b", "tagging", "PutBucketTagging"},
		{"GET", "/b", "acl", ""},
		{"DELETE", "/b", "acl", ""},
		{"PUT", "/b/key", "", ""},
		{"PUT", "/b/key", "acl", ""},
		{"POST", "/b", "delete", ""},
		{"PUT", "/b", "inventory&id=x", ""},
	} {
		r := httptest.NewRequest(c.method, "http://127.0.0.1:9/"+strings.TrimPrefix(c.path, "/")+"?"+c.query, nil)
		_, key := S3Target(r)
		q, _ := url.ParseQuery(c.query)
		name, _, ok := s3Call(c.method, key, q)
		if name != c.want || ok != (c.want != "") {
			t.Errorf("%s %s?%s: %q (%t), want %q", c.method, c.path, c.query, name, ok, c.want)
		}
	}
	for host, want := range map[string]string{"127.0.0.1:4566": "", "b1.localhost:4566": "b1", "b2.s3.us-east-1.amazonaws.com": "b2", "s3.amazonaws.com": ""} {
		r := httptest.NewRequest("PUT", "http://"+host+"/p?acl", nil)
		bucket, _ := S3Target(r)
		if want == "" {
			want = "p" // path style
		}
		if bucket != want {
			t.Errorf("host %s: bucket %q, want %q", host, bucket, want)
		}
	}
}

// The records' parameters have CloudTrail's shapes where the fixtures
// document them: the S3 sub-resource keys and XML body, the newer EC2
// calls wrapped with PascalCase names and "tag", the older ones with
// lowerCamelCase names and item lists.
func TestRecordShapes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	cfg := r.config("AKIDALICE", "us-east-1")
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	ec2c := ec2.NewFromConfig(cfg)
	detail := func() map[string]any {
		t.Helper()
		evs := r.sink.take()
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		var d map[string]any
		if err := json.Unmarshal(evs[0].Detail, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	at := func(v any, path ...string) any {
		for _, p := range path {
			switch x := v.(type) {
			case map[string]any:
				v = x[p]
			case []any:
				i, _ := strconv.Atoi(p)
				if i >= len(x) {
					return nil
				}
				v = x[i]
			default:
				return nil
			}
		}
		return v
	}
	if _, err := s3c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String("b"), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(false), IgnorePublicAcls: aws.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	d := detail()
	if at(d, "requestParameters", "publicAccessBlock") != "" || at(d, "requestParameters", "PublicAccessBlockConfiguration", "BlockPublicAcls") != false ||
		at(d, "requestParameters", "PublicAccessBlockConfiguration", "IgnorePublicAcls") != true ||
		at(d, "requestParameters", "PublicAccessBlockConfiguration", "xmlns") != "http://s3.amazonaws.com/doc/2006-03-01/" ||
		at(d, "responseElements") != nil || !strings.HasPrefix(at(d, "userAgent").(string), "[") ||
		at(d, "additionalEventData", "x-amz-id-2") != "fakeId2" || at(d, "resources", "0", "ARN") != "arn:aws:s3:::b" {
		t.Errorf("PutBucketPublicAccessBlock record: %v", d)
	}
	if _, err := s3c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("b"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if d := detail(); at(d, "requestParameters", "bucketPolicy", "Version") != "2012-10-17" || at(d, "requestParameters", "policy", "0") != "" {
		t.Errorf("PutBucketPolicy record: %v", d)
	}
	if _, err := ec2c.ModifySecurityGroupRules(ctx, &ec2.ModifySecurityGroupRulesInput{GroupId: aws.String("sg-1"),
		SecurityGroupRules: []ec2types.SecurityGroupRuleUpdate{{SecurityGroupRuleId: aws.String("sgr-1"),
			SecurityGroupRule: &ec2types.SecurityGroupRuleRequest{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIpv4: aws.String("0.0.0.0/0")}}}}); err != nil {
		t.Fatal(err)
	}
	d = detail()
	req := at(d, "requestParameters", "ModifySecurityGroupRulesRequest")
	if at(req, "GroupId") != "sg-1" || at(req, "SecurityGroupRule", "tag") != 1.0 || at(req, "SecurityGroupRule", "SecurityGroupRule", "FromPort") != 22.0 ||
		at(d, "responseElements", "ModifySecurityGroupRulesResponse", "return") != true ||
		at(d, "responseElements", "ModifySecurityGroupRulesResponse", "requestId") != at(d, "requestID") {
		t.Errorf("ModifySecurityGroupRules record: %v", d)
	}
	if _, err := ec2c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil {
		t.Fatal(err)
	}
	if d := detail(); at(d, "requestParameters", "DisableEbsEncryptionByDefaultRequest") != "" {
		t.Errorf("DisableEbsEncryptionByDefault record: %v", d)
	}
	if _, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{HttpTokens: ec2types.HttpTokensStateOptional}}); err != nil {
		t.Fatal(err)
	}
	d = detail()
	if at(d, "requestParameters", "instancesSet", "items", "0", "imageId") != "ami-1" || at(d, "requestParameters", "instancesSet", "items", "0", "minCount") != 2.0 ||
		at(d, "requestParameters", "metadataOptions", "httpTokens") != "optional" ||
		at(d, "responseElements", "instancesSet", "items", "1", "instanceState", "code") != 0.0 ||
		at(d, "responseElements", "groupSet") == nil || at(d, "responseElements", "xmlns") != nil {
		t.Errorf("RunInstances record: %v", d)
	}
	if _, err := ec2c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String("sg-1"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}}}}); err != nil {
		t.Fatal(err)
	}
	d = detail()
	if at(d, "requestParameters", "ipPermissions", "items", "0", "ipRanges", "items", "0", "cidrIp") != "0.0.0.0/0" ||
		at(d, "requestParameters", "ipPermissions", "items", "0", "fromPort") != 22.0 || at(d, "responseElements", "_return") != true {
		t.Errorf("AuthorizeSecurityGroupIngress record: %v", d)
	}
}

// A sink that fails loses the event, not the call: the caller gets the
// emulator's answer and the error is reported.
func TestSinkErrorsAreReported(t *testing.T) {
	backend := &fakeEmulator{t: t}
	srv := httptest.NewServer(backend)
	defer srv.Close()
	var got []error
	var mu sync.Mutex
	p, err := Start(Options{Target: srv.URL, Account: testAccount, Sink: SinkFunc(func(context.Context, Event) error { return fmt.Errorf("bus down") }),
		OnError: func(err error) { mu.Lock(); got = append(got, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(p.URL), RetryMaxAttempts: 1}
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("b")}); err != nil {
		t.Fatalf("the call failed with the sink: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0].Error(), "bus down") {
		t.Errorf("reported %v, want the sink's error", got)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	sink := SinkFunc(func(context.Context, Event) error { return nil })
	for name, o := range map[string]Options{
		"no target":  {Sink: sink, Account: testAccount},
		"bad target": {Target: "127.0.0.1:4566", Sink: sink, Account: testAccount},
		"no sink":    {Target: "http://127.0.0.1:4566", Account: testAccount},
		"no account": {Target: "http://127.0.0.1:4566", Sink: sink},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
