package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// ComplianceChange describes one compliance change, for building the event
// AWS Config would send (the local demo stands in for Config with it, and
// tests build events with it).
type ComplianceChange struct {
	ID           string // the EventBridge event id (EventBridge assigns it on PutEvents)
	Account      string
	Region       string
	RuleName     string
	RuleARN      string // arn:aws:config:<region>:<account>:config-rule/config-rule-<id> when empty
	ResourceType string
	ResourceID   string
	// New is the new compliance type; Old is the previous one, "" on a
	// resource's first evaluation (oldEvaluationResult is then absent).
	New, Old string
	// At is when Config recorded the result and sent the notification.
	At time.Time
}

// Detail returns the event's detail exactly as Config shapes it.
func (c ComplianceChange) Detail() ConfigComplianceChange {
	at := c.At.UTC()
	arn := c.RuleARN
	if arn == "" {
		arn = fmt.Sprintf("arn:aws:config:%s:%s:config-rule/config-rule-%s", c.Region, c.Account, shortID(c.RuleName))
	}
	result := func(compliance string, t time.Time) EvaluationResult {
		ordering, invoked := t.Add(-6*time.Second), t.Add(-200*time.Millisecond)
		return EvaluationResult{
			EvaluationResultIdentifier: EvaluationResultIdentifier{
				EvaluationResultQualifier: EvaluationResultQualifier{ConfigRuleName: c.RuleName, ResourceType: c.ResourceType,
					ResourceID: c.ResourceID, EvaluationMode: "DETECTIVE"},
				OrderingTimestamp: &ordering,
			},
			ComplianceType:        compliance,
			ResultRecordedTime:    &t,
			ConfigRuleInvokedTime: &invoked,
		}
	}
	d := ConfigComplianceChange{
		ResourceID: c.ResourceID, ResourceType: c.ResourceType, AWSRegion: c.Region, AWSAccountID: c.Account,
		ConfigRuleName: c.RuleName, ConfigRuleARN: arn, RecordVersion: "1.0", MessageType: MessageTypeComplianceChange,
		NewEvaluationResult:      result(c.New, at.Add(-500*time.Millisecond)),
		NotificationCreationTime: at,
	}
	if c.Old != "" {
		old := result(c.Old, at.Add(-24*time.Hour))
		d.OldEvaluationResult = &old
	}
	return d
}

// NewComplianceChange returns the whole EventBridge event, as JSON, that
// Config sends for the change: the same shape as the fixtures in testdata.
func NewComplianceChange(c ComplianceChange) ([]byte, error) {
	detail, err := json.Marshal(c.Detail())
	if err != nil {
		return nil, fmt.Errorf("encoding compliance change detail: %w", err)
	}
	env := Envelope{Version: "0", ID: c.ID, DetailType: DetailTypeComplianceChange, Source: SourceConfig,
		Account: c.Account, Time: c.At.UTC().Truncate(time.Second), Region: c.Region, Resources: []string{}, Detail: detail}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encoding compliance change event: %w", err)
	}
	return b, nil
}

// shortID derives a stable rule id suffix like Config's config-rule-816803ab.
func shortID(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return fmt.Sprintf("%08x", h)
}
