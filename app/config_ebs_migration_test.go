package app

import (
	"strings"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/remediators"
)

func TestLoadEBSMigration(t *testing.T) {
	cfg, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Remediators
	if o.EBSMigration != remediators.EBSMigrationOff || o.EBSMigrationDeleteOriginalAfter != 0 || o.EBSMigrationStuckAfter != 6*time.Hour {
		t.Errorf("defaults: %q %s %s", o.EBSMigration, o.EBSMigrationDeleteOriginalAfter, o.EBSMigrationStuckAfter)
	}
	if got := volumeListers(cfg); got != "ebs-volumes-attached-unencrypted" {
		t.Errorf("EBS_MIGRATION=off: the sweep lists %q, want the attached volumes only (as encrypted-volumes does)", got)
	}
	cfg, err = Load(env(map[string]string{"EBS_MIGRATION": "unattached", "EBS_MIGRATION_DELETE_ORIGINAL_AFTER": "168h", "EBS_MIGRATION_STUCK_AFTER": "90m"}))
	if err != nil {
		t.Fatal(err)
	}
	o = cfg.Remediators
	if o.EBSMigration != remediators.EBSMigrationUnattached || o.EBSMigrationDeleteOriginalAfter != 168*time.Hour || o.EBSMigrationStuckAfter != 90*time.Minute {
		t.Errorf("values: %q %s %s", o.EBSMigration, o.EBSMigrationDeleteOriginalAfter, o.EBSMigrationStuckAfter)
	}
	if got := volumeListers(cfg); got != "ebs-volumes-unencrypted" {
		t.Errorf("EBS_MIGRATION=unattached: the sweep lists %q, want unattached volumes too", got)
	}
	if got := volumeListers(Config{Definitions: remediators.Definitions()}); got != "ebs-volumes-attached-unencrypted" {
		t.Errorf("WithEBSMigration changed the definitions it was given: %q", got)
	}
	for _, tc := range []struct{ name, value, msg string }{
		{"EBS_MIGRATION", "yes", `"yes" is not one of off, unattached, all`},
		{"EBS_MIGRATION", "ALL", `"ALL"`},
		{"EBS_MIGRATION_DELETE_ORIGINAL_AFTER", "7d", `"7d" is not a duration of at least an hour`},
		{"EBS_MIGRATION_DELETE_ORIGINAL_AFTER", "10m", `"10m"`},
		{"EBS_MIGRATION_STUCK_AFTER", "6", `"6" is not a duration of at least a minute`},
		{"EBS_MIGRATION_STUCK_AFTER", "-1h", `"-1h"`},
	} {
		_, err := Load(env(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.HasPrefix(err.Error(), tc.name+": ") || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s=%s: error %v, want %q", tc.name, tc.value, err, tc.msg)
		}
	}
}

// volumeListers returns the key of the EBS remediator's volume listing.
func volumeListers(cfg Config) string {
	for _, d := range cfg.Definitions {
		for _, c := range d.Sweep {
			if c.Lister.ResourceType == remediators.ResourceTypeVolume {
				return c.Lister.Key
			}
		}
	}
	return ""
}
