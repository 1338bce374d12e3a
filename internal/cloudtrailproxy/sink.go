package cloudtrailproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Event is one recorded call, as the proxy hands it to its Sink: the
// fields of an EventBridge PutEvents entry, and what the record says about
// the call.
type Event struct {
	Source     string // events.SourceS3 or events.SourceEC2
	DetailType string // events.DetailTypeCloudTrailCall
	Time       time.Time
	// Detail is the CloudTrail record.
	Detail json.RawMessage
	// EventName is the call; Principal the ARN of the role or user who made
	// it (what IGNORE_ACTOR_ARNS lists).
	EventName string
	Principal string
}

// Sink receives the proxy's events. Put is called concurrently.
type Sink interface {
	Put(ctx context.Context, ev Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, ev Event) error

// Put calls f.
func (f SinkFunc) Put(ctx context.Context, ev Event) error { return f(ctx, ev) }

// PutEventsAPI is the EventBridge call the EventBridge sink makes.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge puts the events on an event bus with PutEvents. Only AWS
// services may put events with an "aws." source on a real bus (PutEvents
// answers NotAuthorizedForSourceException to anyone else); moto accepts
// them, which is what a stand-in for CloudTrail needs.
type EventBridge struct {
	Client PutEventsAPI
	// Bus is the event bus's name or ARN; "" is the default bus.
	Bus string
}

// Put puts one event on the bus.
func (s *EventBridge) Put(ctx context.Context, ev Event) error {
	entry := ebtypes.PutEventsRequestEntry{Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType),
		Detail: aws.String(string(ev.Detail)), Time: aws.Time(ev.Time), Resources: []string{}}
	if s.Bus != "" {
		entry.EventBusName = aws.String(s.Bus)
	}
	out, err := s.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("putting the CloudTrail event of %s on the event bus: %w", ev.EventName, err)
	}
	if out.FailedEntryCount > 0 {
		code, msg := "", ""
		if len(out.Entries) > 0 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		return fmt.Errorf("putting the CloudTrail event of %s on the event bus: rejected: %s %s", ev.EventName, code, msg)
	}
	return nil
}

// EventJSON is the event as EventBridge delivers it to a target, with the
// envelope fields EventBridge fills in (id, account, region).
func EventJSON(ev Event, id, account, region string) ([]byte, error) {
	out, err := json.Marshal(map[string]any{
		"version": "0", "id": id, "detail-type": ev.DetailType, "source": ev.Source, "account": account,
		"time": ev.Time.UTC().Format(time.RFC3339), "region": region, "resources": []string{}, "detail": ev.Detail,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the %s event: %w", ev.EventName, err)
	}
	return out, nil
}
