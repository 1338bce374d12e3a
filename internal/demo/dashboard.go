package demo

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/autoremediate/autoremediate/dashboard"
	"github.com/autoremediate/autoremediate/internal/emulator"
	"github.com/autoremediate/autoremediate/publish"
	"github.com/autoremediate/autoremediate/terraform"
)

// writeDashboard renders the production dashboard from the emulator's
// CloudWatch. moto computes no percentiles: they are drawn as Average and
// Maximum, labelled so on the page.
func (d *demo) writeDashboard(ctx context.Context) error {
	body, err := terraform.RenderDashboard(dashboard.Vars{Namespace: publish.DefaultNamespace, Region: emulator.Region,
		FunctionName: FunctionName, DLQName: DLQName}.Map())
	if err != nil {
		return err
	}
	// The demo's data is minutes old: a 30-minute range instead of the
	// dashboard's 24 hours.
	page, widgets, err := dashboard.Render(ctx, d.cw, body, dashboard.Options{Start: time.Now().Add(-30 * time.Minute), Title: "Auto-remediation compliance dashboard (local demo)", NoPercentiles: true,
		Notes: dashboard.DefaultNotes()})
	if err != nil {
		return err
	}
	for _, w := range widgets {
		if w.Err != "" {
			return fmt.Errorf("dashboard widget %q: %s", w.Widget.Properties.Title, w.Err)
		}
	}
	if err := os.WriteFile(d.opts.DashboardPath, page, 0o644); err != nil {
		return fmt.Errorf("writing the dashboard: %w", err)
	}
	return nil
}
