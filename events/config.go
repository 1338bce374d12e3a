// Package events parses the EventBridge events the remediation pipeline
// consumes. It never calls AWS and never panics on input: anything that is
// not a well-formed event of the expected kind yields a *ParseError that
// says what is wrong.
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

// Source and DetailType of the events AWS Config sends to EventBridge when a
// rule's compliance for a resource changes.
const (
	SourceConfig                   = "aws.config"
	DetailTypeComplianceChange     = "Config Rules Compliance Change"
	MessageTypeComplianceChange    = "ComplianceChangeNotification"
	ComplianceTypeCompliant        = "COMPLIANT"
	ComplianceTypeNonCompliant     = "NON_COMPLIANT"
	ComplianceTypeNotApplicable    = "NOT_APPLICABLE"
	ComplianceTypeInsufficientData = "INSUFFICIENT_DATA"
)

// Envelope is the EventBridge envelope common to every event. Detail is kept
// raw so that each detail type can be decoded into its own struct
// (ParseComplianceChange decodes it straight into Change and leaves it nil).
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ConfigComplianceChange is the detail of a "Config Rules Compliance Change"
// event.
type ConfigComplianceChange struct {
	ResourceID               string            `json:"resourceId"`
	ResourceType             string            `json:"resourceType"`
	AWSRegion                string            `json:"awsRegion"`
	AWSAccountID             string            `json:"awsAccountId"`
	ConfigRuleName           string            `json:"configRuleName"`
	ConfigRuleARN            string            `json:"configRuleARN"`
	RecordVersion            string            `json:"recordVersion,omitempty"`
	MessageType              string            `json:"messageType"`
	NewEvaluationResult      EvaluationResult  `json:"newEvaluationResult"`
	OldEvaluationResult      *EvaluationResult `json:"oldEvaluationResult,omitempty"`
	NotificationCreationTime time.Time         `json:"notificationCreationTime"`
}

// EvaluationResult is one Config evaluation of a resource against a rule.
type EvaluationResult struct {
	EvaluationResultIdentifier EvaluationResultIdentifier `json:"evaluationResultIdentifier"`
	ComplianceType             string                     `json:"complianceType"`
	ResultRecordedTime         *time.Time                 `json:"resultRecordedTime,omitempty"`
	ConfigRuleInvokedTime      *time.Time                 `json:"configRuleInvokedTime,omitempty"`
	Annotation                 string                     `json:"annotation,omitempty"`
}

// EvaluationResultIdentifier identifies an evaluation result.
type EvaluationResultIdentifier struct {
	EvaluationResultQualifier EvaluationResultQualifier `json:"evaluationResultQualifier"`
	OrderingTimestamp         *time.Time                `json:"orderingTimestamp,omitempty"`
	ResourceEvaluationID      string                    `json:"resourceEvaluationId,omitempty"`
}

// EvaluationResultQualifier names the rule and resource of an evaluation.
type EvaluationResultQualifier struct {
	ConfigRuleName string `json:"configRuleName"`
	ResourceType   string `json:"resourceType"`
	ResourceID     string `json:"resourceId"`
	EvaluationMode string `json:"evaluationMode,omitempty"`
}

// ComplianceChangeEvent is a parsed and validated compliance change event.
type ComplianceChangeEvent struct {
	Envelope
	Change ConfigComplianceChange
}

// Account returns the account the evaluated resource lives in.
func (e *ComplianceChangeEvent) Account() string {
	return cmp.Or(e.Change.AWSAccountID, e.Envelope.Account)
}

// Region returns the region the evaluated resource lives in.
func (e *ComplianceChangeEvent) Region() string {
	return cmp.Or(e.Change.AWSRegion, e.Envelope.Region)
}

// ErrorKind classifies why an input is not a usable compliance change event.
type ErrorKind string

// The kinds of ParseError.
const (
	ErrNotJSON          ErrorKind = "not-json"
	ErrOtherSource      ErrorKind = "other-source"
	ErrOtherDetailType  ErrorKind = "other-detail-type"
	ErrMissingDetail    ErrorKind = "missing-detail"
	ErrMissingField     ErrorKind = "missing-field"
	ErrInvalidField     ErrorKind = "invalid-field"
	ErrOtherMessageType ErrorKind = "other-message-type"
	// ErrSNSDelivered: an AWS Config notification as its SNS topic delivers
	// it (or its SNS message body), not an EventBridge event.
	ErrSNSDelivered ErrorKind = "sns-delivered"
)

// ParseError says why an input is not a usable compliance change event.
type ParseError struct {
	Kind   ErrorKind
	Field  string // the JSON field at fault, when there is one
	Detail string // what was found, in words
	Err    error  // the underlying decoding error, if any
	// Event names the kind of event that was expected and Want, as the
	// message shows it, the source or detail-type it must have; empty means
	// a Config compliance change (ParseCloudTrail sets both).
	Event string
	Want  string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	event := "Config compliance change"
	wantSource, wantDetailType := fmt.Sprintf("%q", SourceConfig), fmt.Sprintf("%q", DetailTypeComplianceChange)
	if e.Event != "" {
		event, wantSource, wantDetailType = e.Event, e.Want, e.Want
	}
	fmt.Fprintf(&b, "invalid %s event: ", event)
	switch e.Kind {
	case ErrNotJSON:
		b.WriteString("not a JSON object")
		if e.Detail != "" {
			fmt.Fprintf(&b, " (%s)", e.Detail)
		}
	case ErrOtherSource:
		fmt.Fprintf(&b, "source is %q, want %s", e.Detail, wantSource)
	case ErrSNSDelivered:
		fmt.Fprintf(&b, "this is an AWS Config notification delivered through SNS (%s), not an EventBridge event; "+
			"deliver the EventBridge %q events of source %q instead (the event rule of terraform/ does), "+
			"or pass the event as EventBridge delivers it", e.Detail, DetailTypeComplianceChange, SourceConfig)
	case ErrOtherDetailType:
		fmt.Fprintf(&b, "detail-type is %q, want %s", e.Detail, wantDetailType)
	case ErrOtherMessageType:
		fmt.Fprintf(&b, "detail.messageType is %q, want %q", e.Detail, MessageTypeComplianceChange)
	case ErrMissingDetail:
		b.WriteString("detail is missing or not an object")
	case ErrMissingField:
		fmt.Fprintf(&b, "%s is missing or empty", e.Field)
	case ErrInvalidField:
		fmt.Fprintf(&b, "%s is invalid", e.Field)
		if e.Detail != "" {
			fmt.Fprintf(&b, ": %s", e.Detail)
		}
	default:
		b.WriteString(string(e.Kind))
	}
	if e.Err != nil && e.Kind != ErrInvalidField {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseComplianceChange decodes and validates one "Config Rules Compliance
// Change" event. The resources array is empty in these events and
// oldEvaluationResult is absent on a resource's first evaluation; neither is
// an error.
func ParseComplianceChange(data []byte) (*ComplianceChangeEvent, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, &ParseError{Kind: ErrNotJSON, Detail: describeNonObject(trimmed)}
	}
	// One pass decodes envelope and detail together. Only when it fails is
	// the input decoded again in two steps, to say precisely what is wrong
	// (a foreign source before a detail field of the wrong type).
	var whole struct {
		Envelope
		Detail *ConfigComplianceChange `json:"detail"`
	}
	if err := json.Unmarshal(trimmed, &whole); err != nil {
		return parseInSteps(trimmed)
	}
	ev := &ComplianceChangeEvent{Envelope: whole.Envelope}
	if ev.Source != SourceConfig {
		return nil, otherSource(trimmed, ev.Source)
	}
	if ev.DetailType != DetailTypeComplianceChange {
		return nil, &ParseError{Kind: ErrOtherDetailType, Field: "detail-type", Detail: ev.DetailType}
	}
	if whole.Detail == nil {
		return nil, &ParseError{Kind: ErrMissingDetail, Field: "detail"}
	}
	ev.Change = *whole.Detail
	return validate(ev)
}

// parseInSteps decodes the envelope, checks it, then decodes the detail, so
// that the error names the first problem.
func parseInSteps(trimmed []byte) (*ComplianceChangeEvent, error) {
	ev := &ComplianceChangeEvent{}
	if err := json.Unmarshal(trimmed, &ev.Envelope); err != nil {
		if pe := snsDelivered(trimmed); pe != nil {
			return nil, pe
		}
		return nil, decodeError(trimmed, "", envelopeTimes, err)
	}
	if ev.Source != SourceConfig {
		return nil, otherSource(trimmed, ev.Source)
	}
	if ev.DetailType != DetailTypeComplianceChange {
		return nil, &ParseError{Kind: ErrOtherDetailType, Field: "detail-type", Detail: ev.DetailType}
	}
	detail := bytes.TrimSpace(ev.Detail)
	if len(detail) == 0 || detail[0] != '{' {
		return nil, &ParseError{Kind: ErrMissingDetail, Field: "detail"}
	}
	if err := json.Unmarshal(detail, &ev.Change); err != nil {
		return nil, decodeError(detail, "detail.", detailTimes, err)
	}
	return validate(ev)
}

// otherSource is the error for an input whose source is not AWS Config: it
// says so, unless the input is a Config notification delivered by SNS.
func otherSource(data []byte, source string) *ParseError {
	if source == "" {
		if pe := snsDelivered(data); pe != nil {
			return pe
		}
	}
	return &ParseError{Kind: ErrOtherSource, Field: "source", Detail: source}
}

// snsDelivered recognises the two SNS forms of a Config notification (AWS
// Config Developer Guide, "Notifications that AWS Config sends to an Amazon
// SNS topic"): the SNS envelope ({"Type": "Notification", "TopicArn": ...,
// "Message": "<JSON string>"}) and its message body, whose top level holds
// messageType and configRuleName (an EventBridge event carries them in
// detail).
func snsDelivered(data []byte) *ParseError {
	var top struct {
		Type           string `json:"Type"`
		TopicArn       string `json:"TopicArn"`
		Message        any    `json:"Message"`
		MessageType    any    `json:"messageType"`
		ConfigRuleName any    `json:"configRuleName"`
		// Lambda's event from an SNS subscription ("EventSource":
		// "aws:sns") or an SQS queue ("eventSource": "aws:sqs").
		Records []struct {
			SNSSource string `json:"EventSource"`
			SQSSource string `json:"eventSource"`
		} `json:"Records"`
	}
	if json.Unmarshal(data, &top) != nil {
		return nil
	}
	if len(top.Records) > 0 {
		switch r := top.Records[0]; {
		case r.SNSSource == "aws:sns":
			return &ParseError{Kind: ErrSNSDelivered, Detail: "a Lambda event from an SNS subscription (Records[].Sns)"}
		case r.SQSSource == "aws:sqs":
			return &ParseError{Kind: ErrSNSDelivered, Detail: "a Lambda event from an SQS queue (Records[].body)"}
		}
	}
	switch {
	case top.Type == "Notification" && top.TopicArn != "" && top.Message != nil:
		return &ParseError{Kind: ErrSNSDelivered, Detail: fmt.Sprintf("an SNS message from topic %s", top.TopicArn)}
	case top.MessageType != nil:
		return &ParseError{Kind: ErrSNSDelivered, Detail: fmt.Sprintf("a bare message of type %v", top.MessageType)}
	case top.ConfigRuleName != nil:
		return &ParseError{Kind: ErrSNSDelivered, Detail: "a bare message with configRuleName at the top level"}
	}
	return nil
}

// validate checks the decoded detail.
func validate(ev *ComplianceChangeEvent) (*ComplianceChangeEvent, error) {
	c := &ev.Change
	if c.MessageType != "" && c.MessageType != MessageTypeComplianceChange {
		return nil, &ParseError{Kind: ErrOtherMessageType, Field: "detail.messageType", Detail: c.MessageType}
	}
	// The top-level detail fields are the ones AWS documents and always
	// sends. The evaluation result's qualifier repeats them, but an event
	// without them is not shaped like AWS's and is refused, not patched.
	required := []struct{ name, value string }{
		{"detail.configRuleName", c.ConfigRuleName},
		{"detail.resourceType", c.ResourceType},
		{"detail.resourceId", c.ResourceID},
		{"detail.newEvaluationResult.complianceType", c.NewEvaluationResult.ComplianceType},
	}
	for _, r := range required {
		if strings.TrimSpace(r.value) == "" {
			return nil, &ParseError{Kind: ErrMissingField, Field: r.name}
		}
	}
	if ev.Region() == "" {
		return nil, &ParseError{Kind: ErrMissingField, Field: "detail.awsRegion"}
	}
	switch c.NewEvaluationResult.ComplianceType {
	case ComplianceTypeCompliant, ComplianceTypeNonCompliant, ComplianceTypeNotApplicable, ComplianceTypeInsufficientData:
	default:
		return nil, &ParseError{Kind: ErrInvalidField, Field: "detail.newEvaluationResult.complianceType",
			Detail: fmt.Sprintf("%q is not one of COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA", c.NewEvaluationResult.ComplianceType)}
	}
	return ev, nil
}

// The timestamp fields, as dot-separated paths: a bad timestamp makes
// encoding/json return time's own error, which does not say which field it
// was, so decodeError looks for it.
var (
	envelopeTimes = []string{"time"}
	detailTimes   = []string{
		"notificationCreationTime",
		"newEvaluationResult.resultRecordedTime",
		"newEvaluationResult.configRuleInvokedTime",
		"newEvaluationResult.evaluationResultIdentifier.orderingTimestamp",
		"oldEvaluationResult.resultRecordedTime",
		"oldEvaluationResult.configRuleInvokedTime",
		"oldEvaluationResult.evaluationResultIdentifier.orderingTimestamp",
	}
)

func decodeError(data []byte, prefix string, times []string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &ParseError{Kind: ErrInvalidField, Field: prefix + typeErr.Field,
			Detail: fmt.Sprintf("got JSON %s, want %s", typeErr.Value, typeErr.Type), Err: err}
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) || !json.Valid(data) {
		return &ParseError{Kind: ErrNotJSON, Err: err}
	}
	// Valid JSON of the right shape that still fails to decode: a timestamp
	// field (time.Time reports neither a non-string value nor a bad string
	// as a type error).
	field := "a timestamp field"
	if f := badTimeField(data, times); f != "" {
		field = prefix + f
	}
	return &ParseError{Kind: ErrInvalidField, Field: field, Detail: "not an RFC 3339 timestamp string", Err: err}
}

// badTimeField returns the first of the paths whose value is present, not
// null, and not an RFC 3339 timestamp string.
func badTimeField(data []byte, paths []string) string {
	var root map[string]any
	if json.Unmarshal(data, &root) != nil {
		return ""
	}
	for _, p := range paths {
		var v any = root
		for _, k := range strings.Split(p, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = m[k]
		}
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return p
		}
		var t time.Time
		if t.UnmarshalText([]byte(s)) != nil {
			return p
		}
	}
	return ""
}

// describeNonObject says what an input that is not a JSON object is.
func describeNonObject(data []byte) string {
	if len(data) == 0 {
		return "empty input"
	}
	if !json.Valid(data) {
		return "not valid JSON"
	}
	switch c := data[0]; {
	case c == '[':
		return "got a JSON array"
	case c == '"':
		return "got a JSON string"
	case c == 't' || c == 'f':
		return "got a JSON boolean"
	case c == 'n':
		return "got JSON null"
	default:
		return "got a JSON number"
	}
}
