package app

import (
	"strings"
	"testing"
)

// Against an endpoint such as a local emulator, outcome metrics are sent
// with PutMetricData unless METRICS_MODE says otherwise: nothing reads EMF
// log lines there, so the dashboard and the report would find no data.
func TestMetricsModeDefaultsToAPIWithAnEndpoint(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, MetricsEMF},
		{map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, MetricsAPI},
		{map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "METRICS_MODE": "emf"}, MetricsEMF},
		{map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "METRICS_MODE": "both"}, MetricsBoth},
		{map[string]string{"AWS_ENDPOINT_URL": " "}, MetricsEMF},
	} {
		cfg, err := Load(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if cfg.MetricsMode != tc.want {
			t.Errorf("%v: METRICS_MODE %q, want %q", tc.env, cfg.MetricsMode, tc.want)
		}
	}
}

func TestBadLogLevelListsTheValidValues(t *testing.T) {
	_, err := Load(func(k string) string { return map[string]string{"LOG_LEVEL": "verbose"}[k] })
	if err == nil || !strings.Contains(err.Error(), `LOG_LEVEL: "verbose"`) || !strings.Contains(err.Error(), "debug, info, warn, error") {
		t.Errorf("error %v does not name the value and the valid ones", err)
	}
}
