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

func TestReportHistoryRuns(t *testing.T) {
	for v, want := range map[string]int{"": 12, "0": 0, "100": 100, " 3 ": 3, "101": -1, "-1": -1, "x": -1} {
		c, err := LoadReport(func(k string) string {
			return map[string]string{"REPORT_BUCKET": "b", "REPORT_HISTORY_RUNS": v}[k]
		})
		if want < 0 {
			if err == nil || !strings.Contains(err.Error(), "REPORT_HISTORY_RUNS") {
				t.Errorf("REPORT_HISTORY_RUNS=%q: err = %v, want one naming the setting", v, err)
			}
			continue
		}
		if err != nil || c.HistoryRuns != want {
			t.Errorf("REPORT_HISTORY_RUNS=%q: %d, %v; want %d", v, c.HistoryRuns, err, want)
		}
	}
}
