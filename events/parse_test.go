package events

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestParseRoutesByDetailType: every fixture of either kind comes back as
// its own type, and what is neither fails as a compliance change event
// would.
func TestParseRoutesByDetailType(t *testing.T) {
	for _, name := range fixtureNames(t) {
		ev, err := Parse(readFixture(t, name))
		if _, ok := ev.(*ComplianceChangeEvent); err != nil || !ok {
			t.Errorf("%s: %T, %v; want a *ComplianceChangeEvent", name, ev, err)
		}
	}
	for _, name := range cloudTrailFixtureNames(t) {
		ev, err := Parse(readFixture(t, filepath.Join("cloudtrail", name)))
		if _, ok := ev.(*CloudTrailEvent); err != nil || !ok {
			t.Errorf("%s: %T, %v; want a *CloudTrailEvent", name, ev, err)
		}
	}
	_, err := Parse([]byte(`{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Kind != ErrOtherSource {
		t.Errorf("another event: %v; want the compliance change parser's other-source error", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range fixtureNames(f) {
		f.Add(readFixture(f, name))
	}
	for _, name := range cloudTrailFixtureNames(f) {
		f.Add(readFixture(f, filepath.Join("cloudtrail", name)))
	}
	f.Add([]byte(`{"detail-type":"AWS API Call via CloudTrail"}`))
	f.Add([]byte(`{"detail-type":7}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || ev != nil {
				t.Fatalf("Parse = %v, %T %v; want no event and a *ParseError", ev, err, err)
			}
			return
		}
		switch e := ev.(type) {
		case *CloudTrailEvent:
			if e.DetailType != DetailTypeCloudTrailCall {
				t.Fatalf("a CloudTrail event with detail-type %q", e.DetailType)
			}
		case *ComplianceChangeEvent:
			if e.DetailType != DetailTypeComplianceChange {
				t.Fatalf("a compliance change event with detail-type %q", e.DetailType)
			}
		default:
			t.Fatalf("Parse returned %T", ev)
		}
	})
}
