package terraform

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/autoremediate/autoremediate/archive"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/remediation"
)

// TestArchiveRouteMatchesTheWriters: the deployed archive route writes the
// layout the local writers and the readers use (package archive), and its
// subscription takes every outcome and nothing else.
func TestArchiveRouteMatchesTheWriters(t *testing.T) {
	m := loadModule(t, moduleDir(t))
	e := newEval(t, m, nil)

	// Firehose's date prefix, in Go's layout, is archive.DayDir's folder.
	prefix := e.local("archive_prefix").AsString()
	layout := strings.NewReplacer("!{timestamp:yyyy}", "2006", "!{timestamp:MM}", "01", "!{timestamp:dd}", "02").Replace(prefix)
	if strings.Contains(layout, "!{") {
		t.Errorf("archive prefix %q has an expression the writers do not use", prefix)
	}
	day := time.Date(2026, 12, 3, 23, 59, 59, 0, time.UTC)
	if got, want := day.Format(layout), archive.DayDir(day)+"/"; got != want {
		t.Errorf("Firehose writes to %s, the writers and readers use %s", got, want)
	}
	// Error records stay out of the outcomes' folders.
	if errs := e.local("archive_error_prefix").AsString(); strings.HasPrefix(errs, archive.Prefix+"/") {
		t.Errorf("error prefix %q is inside the outcomes' folders", errs)
	}

	sub := m.block(t, "resource", "aws_sns_topic_subscription", "archive")
	for name, want := range map[string]cty.Value{
		"protocol":             cty.StringVal("firehose"),
		"raw_message_delivery": cty.True,
		"filter_policy_scope":  cty.StringVal("MessageAttributes"),
	} {
		if v, ok := e.attr(sub.Body, name, nil); !ok || !v.RawEquals(want) {
			t.Errorf("archive subscription %s = %#v, want %#v", name, v, want)
		}
	}
	// The filter admits every outcome: each attribute it names is one the
	// publisher sets even on an outcome with nothing known.
	fp, _ := e.attr(sub.Body, "filter_policy", nil)
	var filter map[string]any
	if err := json.Unmarshal([]byte(fp.AsString()), &filter); err != nil || len(filter) == 0 {
		t.Fatalf("archive subscription filter policy %#v: %v", fp, err)
	}
	attrs := publish.SNSMessage("arn:aws:sns:us-east-1:123456789012:t", remediation.Outcome{Action: remediation.ActionIgnored}).MessageAttributes
	for key := range filter {
		if _, ok := attrs[key]; !ok {
			t.Errorf("the archive's filter policy needs message attribute %q, which an outcome may lack (it has %v)", key, sortedKeys(attrs))
		}
	}

	// Object Lock's default retention is the variables'.
	lock := findBlock(findBlock(m.block(t, "resource", "aws_s3_bucket_object_lock_configuration", "archive").Body, "rule").Body, "default_retention")
	for attr, v := range map[string]string{"mode": "archive_object_lock_mode", "days": "archive_retention_days"} {
		if a, ok := lock.Body.Attributes[attr]; !ok || !referencesVar(a.Expr, v) {
			t.Errorf("Object Lock default retention %s does not come from var.%s", attr, v)
		}
	}
}
