package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A Config notification delivered through SNS (the example of AWS Config's
// developer guide, "Example Compliance Change Notification") is not an
// EventBridge event: the error says what it is and what to deliver instead.
func TestSNSDeliveredConfigNotification(t *testing.T) {
	envelope := readFixture(t, "not-events/sns-config-compliance-change.json")
	var doc struct {
		Message json.RawMessage `json:"Message"`
	}
	if err := json.Unmarshal(envelope, &doc); err != nil {
		t.Fatal(err)
	}
	asString, err := json.Marshal(string(doc.Message)) // SNS also delivers Message as a JSON string
	if err != nil {
		t.Fatal(err)
	}
	stringEnvelope := strings.Replace(string(envelope), string(doc.Message), string(asString), 1)
	// as Lambda receives it from an SNS subscription and from an SQS queue
	// subscribed to the topic
	lambdaSNS := []byte(`{"Records":[{"EventSource":"aws:sns","EventVersion":"1.0","EventSubscriptionArn":"arn:aws:sns:us-east-2:123456789012:config-topic-ohio:956fe658","Sns":` + string(envelope) + `}]}`)
	lambdaSQS, _ := json.Marshal(map[string]any{"Records": []map[string]any{{"messageId": "059f36b4", "eventSource": "aws:sqs", "body": string(envelope)}}})
	for name, in := range map[string][]byte{
		"Lambda event from SNS":        lambdaSNS,
		"Lambda event from SQS":        lambdaSQS,
		"SNS envelope":                 envelope,
		"SNS envelope, string Message": []byte(stringEnvelope),
		"bare SNS message":             doc.Message,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseComplianceChange(in)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Kind != ErrSNSDelivered {
				t.Fatalf("error %v, want kind %s", err, ErrSNSDelivered)
			}
			for _, want := range []string{"delivered through SNS", DetailTypeComplianceChange, "EventBridge"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), `source is ""`) {
				t.Errorf("error %q still blames the source", err)
			}
		})
	}
	// Another input without a source is still reported as such.
	_, err = ParseComplianceChange([]byte(`{"detail-type":"x","detail":{}}`))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Kind != ErrOtherSource {
		t.Errorf("an event without source: %v", err)
	}
}
