package cloudtrailproxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/autoremediate/autoremediate/events"
	"github.com/autoremediate/autoremediate/internal/awsid"
)

// signature is what a SigV4-signed request says about itself: the access
// key and the credential scope (region and service).
type signature struct {
	accessKeyID, region, service string
	// method is CloudTrail's additionalEventData.AuthenticationMethod.
	method string
}

// parseSignature reads the credential scope from the Authorization header
// (AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...)
// or from a presigned URL's X-Amz-Credential. The proxy does not check the
// signature: moto does not either.
func parseSignature(r *http.Request) (signature, bool) {
	var cred, method string
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "); ok {
		for _, part := range strings.Split(auth, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential="); ok {
				cred, method = v, "AuthHeader"
			}
		}
	} else if v := r.URL.Query().Get("X-Amz-Credential"); v != "" {
		cred, method = v, "QueryString"
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aws4_request" {
		return signature{}, false
	}
	return signature{accessKeyID: parts[0], region: parts[2], service: parts[3], method: method}, true
}

// SignedWith returns what a SigV4-signed request's credential scope says:
// the access key ID it was signed with, the region and the service; ok is
// false for a request that is not signed (the emulator's own API).
func SignedWith(r *http.Request) (accessKeyID, region, service string, ok bool) {
	s, ok := parseSignature(r)
	return s.accessKeyID, s.region, s.service, ok
}

// call is a mutating S3 or EC2 call on its way to the emulator: what the
// record needs from the request.
type call struct {
	at                             time.Time
	sig                            signature
	source, eventSource, eventName string
	host, userAgent, sourceIP      string
	header                         http.Header
	body                           []byte
	// S3: the bucket and the sub-resource ("" for the bucket itself).
	bucket, subresource string
	// EC2: the Query parameters.
	params url.Values
}

// s3BucketCalls names the bucket-level S3 calls by sub-resource: the call
// for PUT and the call for DELETE ("" when the method has none). The
// bucket itself ("") is CreateBucket/DeleteBucket. Object-level calls
// (PutObject, DeleteObjects, ...) are data events, which reach EventBridge
// only from a trail that records S3 data events: the proxy records none.
var s3BucketCalls = map[string][2]string{
	"":                  {"CreateBucket", "DeleteBucket"},
	"acl":               {"PutBucketAcl", ""},
	"policy":            {"PutBucketPolicy", "DeleteBucketPolicy"},
	"publicAccessBlock": {"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock"},
	"encryption":        {"PutBucketEncryption", "DeleteBucketEncryption"},
	"tagging":           {"PutBucketTagging", "DeleteBucketTagging"},
	"website":           {"PutBucketWebsite", "DeleteBucketWebsite"},
	"versioning":        {"PutBucketVersioning", ""},
	"cors":              {"PutBucketCors", "DeleteBucketCors"},
	"lifecycle":         {"PutBucketLifecycle", "DeleteBucketLifecycle"},
	"logging":           {"PutBucketLogging", ""},
	"notification":      {"PutBucketNotification", ""},
	"replication":       {"PutBucketReplication", "DeleteBucketReplication"},
	"ownershipControls": {"PutBucketOwnershipControls", "DeleteBucketOwnershipControls"},
	"requestPayment":    {"PutBucketRequestPayment", ""},
	"object-lock":       {"PutObjectLockConfiguration", ""},
	"accelerate":        {"PutAccelerateConfiguration", ""},
}

// s3Call names a bucket-level S3 call from its method and query; ok is
// false for reads, object-level calls and sub-resources it does not know.
func s3Call(method, key string, q url.Values) (name, sub string, ok bool) {
	if key != "" || (method != http.MethodPut && method != http.MethodDelete) {
		return "", "", false
	}
	for k := range q {
		// x-id is the SDK's operation hint; X-Amz-* sign presigned URLs.
		if k == "x-id" || strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			continue
		}
		if _, known := s3BucketCalls[k]; !known || sub != "" {
			return "", "", false
		}
		sub = k
	}
	names := s3BucketCalls[sub]
	if method == http.MethodPut {
		name = names[0]
	} else {
		name = names[1]
	}
	return name, sub, name != ""
}

// S3Target returns the bucket and object key a request addresses, in
// virtual-hosted style (BUCKET.localhost, BUCKET.s3.REGION.amazonaws.com)
// or path style (/BUCKET/KEY, what the SDK and the CLI use with an
// endpoint URL on an IP address).
func S3Target(r *http.Request) (bucket, key string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if b, ok := strings.CutSuffix(host, ".localhost"); ok && b != "" {
		return b, path
	}
	for _, marker := range []string{".s3.", ".s3-"} {
		if i := strings.Index(host, marker); i > 0 {
			return host[:i], path
		}
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// ec2ReadOnly reports whether CloudTrail records an EC2 call as read-only.
func ec2ReadOnly(action string) bool {
	for _, p := range []string{"Describe", "Get", "List", "Search"} {
		if strings.HasPrefix(action, p) {
			return true
		}
	}
	return false
}

// ec2Wrapped are the EC2 calls CloudTrail records in the newer form:
// requestParameters {"<Action>Request": {...}} with the Query API's
// PascalCase names, responseElements {"<Action>Response": {...}}. The older
// calls are recorded with lowerCamelCase names, {"items": [...]} lists and
// the response's fields at the top. Calls not listed here are recorded in
// the older form.
var ec2Wrapped = map[string]bool{
	"ModifyInstanceMetadataOptions": true, "ModifySecurityGroupRules": true,
	"EnableEbsEncryptionByDefault": true, "DisableEbsEncryptionByDefault": true,
	"ModifyEbsDefaultKmsKeyId": true, "ResetEbsDefaultKmsKeyId": true,
	"CreateLaunchTemplate": true, "CreateLaunchTemplateVersion": true, "ModifyLaunchTemplate": true, "DeleteLaunchTemplate": true,
}

// record is the CloudTrail record of one call: the "detail" of its
// EventBridge event.
type record struct {
	EventVersion        string          `json:"eventVersion"`
	UserIdentity        userIdentity    `json:"userIdentity"`
	EventTime           string          `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	RequestParameters   any             `json:"requestParameters"`
	ResponseElements    any             `json:"responseElements"`
	AdditionalEventData map[string]any  `json:"additionalEventData,omitempty"`
	RequestID           string          `json:"requestID"`
	EventID             string          `json:"eventID"`
	ReadOnly            bool            `json:"readOnly"`
	Resources           []recordedThing `json:"resources,omitempty"`
	EventType           string          `json:"eventType"`
	ManagementEvent     bool            `json:"managementEvent"`
	RecipientAccountID  string          `json:"recipientAccountId"`
	EventCategory       string          `json:"eventCategory"`
}

type recordedThing struct {
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// EventTimeFormat is how the proxy writes eventTime: CloudTrail writes
// whole seconds; the proxy keeps milliseconds so that the demo's
// sub-second times from the call to the fix mean something.
const EventTimeFormat = "2006-01-02T15:04:05.000Z"

// build makes the event of a call that succeeded. A response or request
// body it cannot render is left null in the record and reported in err,
// beside a usable event.
func (p *Proxy) build(c *call, resp *http.Response, respBody []byte) (Event, error) {
	id := p.identity(c.sig.accessKeyID)
	rec := record{
		EventVersion: "1.09", UserIdentity: id.record(c.sig.accessKeyID, p.started), EventTime: c.at.UTC().Format(EventTimeFormat),
		EventSource: c.eventSource, EventName: c.eventName, AWSRegion: c.sig.region, SourceIPAddress: c.sourceIP,
		UserAgent: c.userAgent, EventID: awsid.UUID(), ReadOnly: false, EventType: "AwsApiCall", ManagementEvent: true,
		RecipientAccountID: p.account, EventCategory: "Management",
	}
	if rec.AWSRegion == "" {
		rec.AWSRegion = p.region
	}
	var err error
	if c.source == events.SourceS3 {
		err = p.s3Record(&rec, c, resp)
	} else {
		err = ec2Record(&rec, c, respBody)
	}
	if err != nil {
		err = fmt.Errorf("recording %s by %s: %w", c.eventName, id.ARN, err)
	}
	detail, merr := json.Marshal(rec)
	if merr != nil {
		return Event{}, fmt.Errorf("encoding the record of %s: %w", c.eventName, merr)
	}
	return Event{Source: c.source, DetailType: events.DetailTypeCloudTrailCall, Time: c.at, Detail: detail,
		EventName: c.eventName, Principal: id.ARN}, err
}

// identity is who signed with the access key: the configured identity, or
// an IAM user named after the key.
func (p *Proxy) identity(accessKeyID string) Identity {
	if id, ok := p.identities[accessKeyID]; ok {
		return id
	}
	return IAMUser("arn:aws:iam::" + p.account + ":user/" + accessKeyID)
}

func (p *Proxy) s3Record(rec *record, c *call, resp *http.Response) error {
	// S3 records the user agent in brackets.
	rec.UserAgent = "[" + c.userAgent + "]"
	rec.RequestID = requestID16()
	params := map[string]any{"bucketName": c.bucket, "Host": c.host}
	if c.subresource == "publicAccessBlock" {
		params[c.subresource] = ""
	} else if c.subresource != "" {
		params[c.subresource] = []string{""}
	}
	if v := c.header.Get("x-amz-acl"); v != "" {
		params["x-amz-acl"] = []string{v}
	}
	if v := c.header.Get("x-amz-object-ownership"); v != "" {
		params["x-amz-object-ownership"] = v
	}
	var err error
	if len(c.body) > 0 {
		if c.subresource == "policy" {
			var doc any
			if err = json.Unmarshal(c.body, &doc); err == nil {
				params["bucketPolicy"] = doc
			} else {
				err = fmt.Errorf("reading the bucket policy of %q: %w", c.bucket, err)
			}
		} else if root, xerr := parseXML(c.body); xerr == nil {
			params[root.name] = root.value(false)
		} else {
			err = fmt.Errorf("reading the request body for bucket %q: %w", c.bucket, xerr)
		}
	}
	rec.RequestParameters = params
	rec.ResponseElements = nil
	extra := map[string]any{"SignatureVersion": "SigV4", "AuthenticationMethod": c.sig.method,
		"bytesTransferredIn": len(c.body), "bytesTransferredOut": max(resp.ContentLength, 0)}
	if v := resp.Header.Get("x-amz-id-2"); v != "" {
		extra["x-amz-id-2"] = v
	}
	rec.AdditionalEventData = extra
	rec.Resources = []recordedThing{{AccountID: rec.RecipientAccountID, Type: events.ResourceTypeS3Bucket, ARN: "arn:aws:s3:::" + c.bucket}}
	return err
}

func ec2Record(rec *record, c *call, respBody []byte) error {
	rec.RequestID = awsid.UUID()
	tree := queryTree(c.params)
	if ec2Wrapped[c.eventName] {
		var inner any = ""
		if !tree.leaf() {
			inner = tree.pascal(c.eventName + "Request")
		}
		rec.RequestParameters = map[string]any{c.eventName + "Request": inner}
	} else if !tree.leaf() {
		params, _ := tree.camel("").(map[string]any)
		switch c.eventName {
		case "RunInstances":
			// The image and counts are recorded per launch specification.
			spec := map[string]any{}
			for _, k := range []string{"imageId", "minCount", "maxCount", "keyName"} {
				if v, ok := params[k]; ok {
					spec[k] = v
					delete(params, k)
				}
			}
			params["instancesSet"] = map[string]any{"items": []any{spec}}
		case "CreateVolume":
			if v, ok := params["availabilityZone"]; ok {
				params["zone"] = v
				delete(params, "availabilityZone")
			}
		}
		rec.RequestParameters = params
	}
	if len(respBody) == 0 {
		return nil
	}
	root, err := parseXML(respBody)
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	body, ok := root.value(true).(map[string]any)
	if !ok {
		return fmt.Errorf("reading the response: <%s> has no fields", root.name)
	}
	// The record's requestId is the call's; moto answers a fixed one.
	body["requestId"] = rec.RequestID
	if ec2Wrapped[c.eventName] {
		rec.ResponseElements = map[string]any{root.name: body}
		return nil
	}
	delete(body, "xmlns")
	if v, ok := body["return"]; ok {
		body["_return"] = v
		delete(body, "return")
	}
	rec.ResponseElements = body
	return nil
}

// requestID16 is an S3-style request ID: 16 upper-case hex digits.
func requestID16() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
