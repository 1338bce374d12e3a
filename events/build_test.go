package events

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The built event has the fixtures' shape: the same keys at every level,
// and it parses back to what was asked.
func TestNewComplianceChangeHasTheFixtureShape(t *testing.T) {
	at := time.Date(2026, 11, 20, 9, 14, 5, 475e6, time.UTC)
	raw, err := NewComplianceChange(ComplianceChange{ID: "3f1a0001-6c2e-4b1d-9a8e-0c5d2b7e0001", Account: "123456789012", Region: "us-east-1",
		RuleName: "s3-bucket-public-read-prohibited", ResourceType: "AWS::S3::Bucket", ResourceID: "example-public-bucket",
		New: ComplianceTypeNonCompliant, Old: ComplianceTypeCompliant, At: at})
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := testdataFS("s3-public-read-noncompliant.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, raw), keys(t, fixture); !reflect.DeepEqual(got, want) {
		t.Errorf("keys differ from the fixture:\n got %v\nwant %v", got, want)
	}
	ev, err := ParseComplianceChange(raw)
	if err != nil {
		t.Fatal(err)
	}
	c := ev.Change
	if c.ResourceID != "example-public-bucket" || c.NewEvaluationResult.ComplianceType != ComplianceTypeNonCompliant ||
		!c.NotificationCreationTime.Equal(at) || ev.Region() != "us-east-1" || ev.Account() != "123456789012" || c.OldEvaluationResult == nil {
		t.Errorf("parsed back %+v", ev)
	}
	// First evaluation: no oldEvaluationResult at all.
	raw, err = NewComplianceChange(ComplianceChange{Account: "1", Region: "r", RuleName: "x", ResourceType: "T", ResourceID: "i", New: ComplianceTypeNonCompliant, At: at})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	_ = json.Unmarshal(raw, &m)
	if _, ok := m["detail"]["oldEvaluationResult"]; ok {
		t.Error("oldEvaluationResult present on a first evaluation")
	}
}

// keys lists every key path of a JSON document.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, x := range m {
				out = append(out, prefix+k)
				walk(prefix+k+".", x)
			}
		}
	}
	walk("", v)
	sortStrings(out)
	return out
}
