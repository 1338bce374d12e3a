package events

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sources, detail-type and event sources of the "AWS API Call via
// CloudTrail" events the pipeline reads. EventBridge receives them only from
// accounts with a trail that records management events.
const (
	SourceS3                 = "aws.s3"
	SourceEC2                = "aws.ec2"
	DetailTypeCloudTrailCall = "AWS API Call via CloudTrail"
	EventSourceS3            = "s3.amazonaws.com"
	EventSourceEC2           = "ec2.amazonaws.com"
)

// Resource types of the resources a CloudTrail call touched, spelled as AWS
// Config spells them so that one remediator mapping serves both paths.
const (
	ResourceTypeS3Bucket         = "AWS::S3::Bucket"
	ResourceTypeEC2Instance      = "AWS::EC2::Instance"
	ResourceTypeEC2Volume        = "AWS::EC2::Volume"
	ResourceTypeEC2SecurityGroup = "AWS::EC2::SecurityGroup"
	ResourceTypeAccount          = "AWS::::Account"
)

// CloudTrailEvent is a parsed and validated "AWS API Call via CloudTrail"
// event. Envelope.Detail is left nil: the detail is in Call.
type CloudTrailEvent struct {
	Envelope
	Call CloudTrailCall
}

// CloudTrailCall is the detail of an "AWS API Call via CloudTrail" event: the
// CloudTrail record of the call. Fields the pipeline does not read
// (resources, additionalEventData, tlsDetails, eventCategory, ...) are
// dropped.
type CloudTrailCall struct {
	EventVersion    string       `json:"eventVersion"`
	UserIdentity    UserIdentity `json:"userIdentity"`
	EventTime       time.Time    `json:"eventTime"`
	EventSource     string       `json:"eventSource"`
	EventName       string       `json:"eventName"`
	AWSRegion       string       `json:"awsRegion"`
	SourceIPAddress string       `json:"sourceIPAddress"`
	UserAgent       string       `json:"userAgent"`
	// RequestParameters and ResponseElements differ per API (and are null
	// when the call failed or returned nothing); Resources decodes the ones
	// it knows.
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	RequestID          string          `json:"requestID"`
	EventID            string          `json:"eventID"`
	ReadOnly           Flag            `json:"readOnly"`
	EventType          string          `json:"eventType"`
	ManagementEvent    Flag            `json:"managementEvent"`
	RecipientAccountID string          `json:"recipientAccountId"`
}

// UserIdentity is the principal that made a call.
type UserIdentity struct {
	// Type is Root, IAMUser, AssumedRole, FederatedUser, AWSService, ...
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes the temporary credentials a call was made with.
type SessionContext struct {
	// SessionIssuer is present, and empty ({}), even for IAM users' calls.
	SessionIssuer SessionIssuer     `json:"sessionIssuer"`
	Attributes    SessionAttributes `json:"attributes"`
}

// SessionIssuer is the role or user whose credentials started the session.
type SessionIssuer struct {
	Type        string `json:"type,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// SessionAttributes are kept as CloudTrail writes them: creationDate is a
// timestamp and mfaAuthenticated the string "true" or "false" (a JSON
// boolean is read too).
type SessionAttributes struct {
	CreationDate     Text `json:"creationDate,omitempty"`
	MFAAuthenticated Text `json:"mfaAuthenticated,omitempty"`
}

// Flag is a boolean the pipeline does not act on, read leniently: CloudTrail
// writes JSON booleans, but records that went through other tools (and
// many published samples) carry "true"/"false" strings. A value of another
// shape is read as false rather than refusing the whole event.
type Flag bool

// UnmarshalJSON implements json.Unmarshaler.
func (f *Flag) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*f = Flag(v)
	case string:
		*f = Flag(strings.EqualFold(v, "true"))
	default:
		*f = false
	}
	return nil
}

// Text is a string the pipeline does not act on, read leniently: a JSON
// boolean or number (as in samples that write mfaAuthenticated as false) is
// kept as its JSON text.
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = Text(s)
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v == nil {
		*t = ""
		return nil
	}
	*t = Text(bytes.TrimSpace(b))
	return nil
}

// Resource is one resource an API call touched, named as AWS Config names it.
type Resource struct {
	Type string
	ID   string
}

// Account returns the account of the resources the call touched:
// recipientAccountId, which differs from the caller's userIdentity.accountId
// for cross-account calls. Without it, the envelope's account (the account
// whose bus received the event) is the same account.
func (e *CloudTrailEvent) Account() string {
	return cmp.Or(e.Call.RecipientAccountID, e.Envelope.Account)
}

// Region returns the region the call was made in.
func (e *CloudTrailEvent) Region() string {
	return cmp.Or(e.Call.AWSRegion, e.Envelope.Region)
}

// Failed reports whether the call failed (nothing changed): CloudTrail
// records failed calls too, with errorCode set.
func (e *CloudTrailEvent) Failed() bool { return e.Call.ErrorCode != "" }

// Actor returns who made the call, or "" when the record does not say:
//   - an assumed role: the role's ARN from sessionContext.sessionIssuer.arn,
//     "/" and the session name (the last segment of userIdentity.arn), e.g.
//     "arn:aws:iam::123456789012:role/Admin/alice" for
//     "arn:aws:sts::123456789012:assumed-role/Admin/alice". The issuer's ARN
//     keeps the role's path, which the assumed-role ARN drops, so the actor
//     starts with the role ARN that IAM and Terraform know;
//   - anyone else with an ARN (IAM user, root, federated user): userIdentity.arn.
func (e *CloudTrailEvent) Actor() string {
	id := e.Call.UserIdentity
	if id.Type == "AssumedRole" && id.SessionContext != nil && id.SessionContext.SessionIssuer.ARN != "" {
		issuer := id.SessionContext.SessionIssuer.ARN
		if i := strings.LastIndexByte(id.ARN, '/'); i >= 0 && i < len(id.ARN)-1 {
			return issuer + "/" + id.ARN[i+1:]
		}
		return issuer
	}
	return id.ARN
}

// Principal returns the IAM identity behind the call, as IAM and Terraform
// name it: for a session (an assumed role, a federated user) the ARN of the
// role or user that issued it (sessionContext.sessionIssuer.arn), otherwise
// userIdentity.arn (an IAM user, root); "" when the record names neither
// (AWS service calls). It is what IGNORE_ACTOR_ARNS lists.
func (e *CloudTrailEvent) Principal() string {
	// Any session's issuer, not only an assumed role's: a federated user's
	// (GetFederationToken) is the IAM user who started it, which is what the
	// deployed event pattern compares too.
	id := e.Call.UserIdentity
	if id.SessionContext != nil && id.SessionContext.SessionIssuer.ARN != "" {
		return id.SessionContext.SessionIssuer.ARN
	}
	return id.ARN
}

// Resources returns the resources the call touched, one per resource (a
// RunInstances call yields each instance it started). Unknown calls, and
// known calls whose record does not name the resource (a failed RunInstances
// has no responseElements), yield none.
func (e *CloudTrailEvent) Resources() []Resource {
	rs, _ := e.resources()
	return rs
}

// resources decodes the parameters of the calls it knows; the error names the
// field whose JSON has the wrong type.
func (e *CloudTrailEvent) resources() ([]Resource, error) {
	c := &e.Call
	switch c.EventSource {
	case EventSourceS3:
		switch c.EventName {
		case "CreateBucket", "PutBucketAcl", "PutBucketPolicy", "DeleteBucketPolicy",
			"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
			"PutBucketEncryption", "DeleteBucketEncryption":
			var p struct {
				BucketName string `json:"bucketName"`
			}
			if err := decodePart(c.RequestParameters, "requestParameters", &p); err != nil {
				return nil, err
			}
			return one(ResourceTypeS3Bucket, p.BucketName), nil
		}
	case EventSourceEC2:
		switch c.EventName {
		case "RunInstances":
			var r struct {
				InstancesSet struct {
					Items []struct {
						InstanceID string `json:"instanceId"`
					} `json:"items"`
				} `json:"instancesSet"`
			}
			if err := decodePart(c.ResponseElements, "responseElements", &r); err != nil {
				return nil, err
			}
			var rs []Resource
			for _, it := range r.InstancesSet.Items {
				rs = append(rs, one(ResourceTypeEC2Instance, it.InstanceID)...)
			}
			return rs, nil
		case "ModifyInstanceMetadataOptions":
			// The EC2 Query API's newer calls are recorded with their
			// request wrapped in "<Action>Request" and PascalCase names.
			var p struct {
				Request struct {
					InstanceID string `json:"InstanceId"`
				} `json:"ModifyInstanceMetadataOptionsRequest"`
			}
			if err := decodePart(c.RequestParameters, "requestParameters", &p); err != nil {
				return nil, err
			}
			return one(ResourceTypeEC2Instance, p.Request.InstanceID), nil
		case "DisableEbsEncryptionByDefault", "ModifyEbsDefaultKmsKeyId", "ResetEbsDefaultKmsKeyId":
			// Account-level settings (per region): Config records them on
			// the account resource, whose ID is the account ID.
			return one(ResourceTypeAccount, e.Account()), nil
		case "CreateVolume":
			var r struct {
				VolumeID string `json:"volumeId"`
			}
			if err := decodePart(c.ResponseElements, "responseElements", &r); err != nil {
				return nil, err
			}
			return one(ResourceTypeEC2Volume, r.VolumeID), nil
		case "AuthorizeSecurityGroupIngress":
			// groupId is absent when the caller named a default-VPC group
			// by groupName; the response's rule set still carries it.
			var p struct {
				GroupID string `json:"groupId"`
			}
			if err := decodePart(c.RequestParameters, "requestParameters", &p); err != nil {
				return nil, err
			}
			if p.GroupID != "" {
				return one(ResourceTypeEC2SecurityGroup, p.GroupID), nil
			}
			var r struct {
				RuleSet struct {
					Items []struct {
						GroupID string `json:"groupId"`
					} `json:"items"`
				} `json:"securityGroupRuleSet"`
			}
			if err := decodePart(c.ResponseElements, "responseElements", &r); err != nil {
				return nil, err
			}
			if len(r.RuleSet.Items) > 0 {
				return one(ResourceTypeEC2SecurityGroup, r.RuleSet.Items[0].GroupID), nil
			}
			return nil, nil
		case "ModifySecurityGroupRules":
			var p struct {
				Request struct {
					GroupID string `json:"GroupId"`
				} `json:"ModifySecurityGroupRulesRequest"`
			}
			if err := decodePart(c.RequestParameters, "requestParameters", &p); err != nil {
				return nil, err
			}
			return one(ResourceTypeEC2SecurityGroup, p.Request.GroupID), nil
		}
	}
	return nil, nil
}

func one(typ, id string) []Resource {
	if strings.TrimSpace(id) == "" {
		return nil
	}
	return []Resource{{Type: typ, ID: id}}
}

// decodePart decodes requestParameters or responseElements into v. Null or
// absent is no error (failed calls and calls without a response have null);
// a value of the wrong JSON type is, named by its path under detail.
func decodePart(raw json.RawMessage, name string, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		pe := decodeError(raw, "detail."+name+".", nil, err)
		if p, ok := pe.(*ParseError); ok && p.Field == "detail."+name+"." {
			p.Field = "detail." + name
		}
		return pe
	}
	return nil
}

// ParseCloudTrail decodes and validates one "AWS API Call via CloudTrail"
// event, as EventBridge delivers it: from aws.s3 or aws.ec2, whose calls it
// knows, or from another AWS service, whose calls name no resource. A failed call
// (errorCode set) and a call whose resources it does not know are valid
// events: the caller decides what to do with them.
func ParseCloudTrail(data []byte) (*CloudTrailEvent, error) {
	ev, err := parseCloudTrail(data)
	if err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			pe.Event = "CloudTrail API call"
			switch pe.Kind {
			case ErrOtherSource:
				pe.Want = fmt.Sprintf("an AWS service's source such as %q or %q", SourceS3, SourceEC2)
			case ErrOtherDetailType:
				pe.Want = fmt.Sprintf("%q", DetailTypeCloudTrailCall)
			}
		}
		return nil, err
	}
	return ev, nil
}

func parseCloudTrail(data []byte) (*CloudTrailEvent, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &ParseError{Kind: ErrNotJSON, Detail: describeNonObject(trimmed)}
	}
	ev := &CloudTrailEvent{}
	if err := json.Unmarshal(trimmed, &ev.Envelope); err != nil {
		return nil, decodeError(trimmed, "", envelopeTimes, err)
	}
	// Any AWS service's API call is a valid event: one from a service no
	// remediator watches (aws.iam CreateUser) is ignored like an unknown
	// call of S3 or EC2, not refused. (The deployed pattern delivers only
	// aws.s3 and aws.ec2.)
	if !strings.HasPrefix(ev.Source, "aws.") || len(ev.Source) == len("aws.") {
		return nil, &ParseError{Kind: ErrOtherSource, Field: "source", Detail: ev.Source}
	}
	if ev.DetailType != DetailTypeCloudTrailCall {
		return nil, &ParseError{Kind: ErrOtherDetailType, Field: "detail-type", Detail: ev.DetailType}
	}
	detail := bytes.TrimSpace(ev.Detail)
	ev.Detail = nil
	if len(detail) == 0 || detail[0] != '{' {
		return nil, &ParseError{Kind: ErrMissingDetail, Field: "detail"}
	}
	if err := json.Unmarshal(detail, &ev.Call); err != nil {
		return nil, decodeError(detail, "detail.", cloudTrailTimes, err)
	}
	c := &ev.Call
	required := []struct{ name, value string }{
		{"detail.eventSource", c.EventSource},
		{"detail.eventName", c.EventName},
	}
	for _, r := range required {
		if strings.TrimSpace(r.value) == "" {
			return nil, &ParseError{Kind: ErrMissingField, Field: r.name}
		}
	}
	if c.EventTime.IsZero() {
		return nil, &ParseError{Kind: ErrMissingField, Field: "detail.eventTime"}
	}
	if ev.Region() == "" {
		return nil, &ParseError{Kind: ErrMissingField, Field: "detail.awsRegion"}
	}
	if ev.Account() == "" {
		return nil, &ParseError{Kind: ErrMissingField, Field: "detail.recipientAccountId"}
	}
	// EventBridge derives source from eventSource; a mismatch is not an
	// event AWS sent.
	if want := strings.TrimPrefix(ev.Source, "aws.") + ".amazonaws.com"; c.EventSource != want {
		return nil, &ParseError{Kind: ErrInvalidField, Field: "detail.eventSource",
			Detail: fmt.Sprintf("%q does not belong to source %q (want %q)", c.EventSource, ev.Source, want)}
	}
	if _, err := ev.resources(); err != nil {
		return nil, err
	}
	return ev, nil
}

// cloudTrailTimes are the timestamp fields of the detail (see decodeError).
var cloudTrailTimes = []string{"eventTime"}

// Event is an event the pipeline acts on: a *ComplianceChangeEvent or a
// *CloudTrailEvent.
type Event interface {
	// EventID is the EventBridge event's id, the same on every delivery of
	// one event.
	EventID() string
}

// EventID implements Event.
func (e *ComplianceChangeEvent) EventID() string { return e.ID }

// EventID implements Event.
func (e *CloudTrailEvent) EventID() string { return e.ID }

// Parse decodes either kind of event the pipeline handles, chosen by its
// detail-type: "AWS API Call via CloudTrail" events go to ParseCloudTrail,
// everything else to ParseComplianceChange (whose errors say what a
// compliance change event lacks).
func Parse(data []byte) (Event, error) {
	var head struct {
		DetailType string `json:"detail-type"`
	}
	// A document that does not decode here fails in ParseComplianceChange
	// with the precise error.
	// Each branch returns nil itself on error: a nil *CloudTrailEvent in
	// the interface would not be a nil Event.
	if json.Unmarshal(bytes.TrimSpace(data), &head) == nil && head.DetailType == DetailTypeCloudTrailCall {
		ev, err := ParseCloudTrail(data)
		if err != nil {
			return nil, err
		}
		return ev, nil
	}
	ev, err := ParseComplianceChange(data)
	if err != nil {
		return nil, err
	}
	return ev, nil
}
