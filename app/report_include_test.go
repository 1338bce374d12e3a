package app

import (
	"strings"
	"testing"
)

func TestLoadReportInclude(t *testing.T) {
	for v, want := range map[string]bool{"": false, "credentials": true, " credentials , ": true} {
		c, err := LoadReport(func(k string) string {
			return map[string]string{"REPORT_BUCKET": "b", "REPORT_INCLUDE": v}[k]
		})
		if err != nil || c.IncludeCredentials != want {
			t.Errorf("REPORT_INCLUDE=%q: %v, %v; want %v", v, c.IncludeCredentials, err, want)
		}
	}
	_, err := LoadReport(func(k string) string {
		return map[string]string{"REPORT_BUCKET": "b", "REPORT_INCLUDE": "credentials,secrets"}[k]
	})
	if err == nil || !strings.Contains(err.Error(), `REPORT_INCLUDE: "secrets"`) {
		t.Errorf("unknown section: %v", err)
	}
}
