package app_test

import (
	"strings"
	"testing"

	"github.com/autoremediate/autoremediate/app"
)

func TestArchiveSettings(t *testing.T) {
	load := func(env map[string]string) (app.Config, error) {
		return app.Load(func(k string) string { return env[k] })
	}
	cfg, err := load(map[string]string{"ARCHIVE_DIR": " /var/evidence ", "ARCHIVE_BUCKET": "s3://evidence-bucket/team/a/"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ArchiveDir != "/var/evidence" || cfg.ArchiveBucket != "evidence-bucket" || cfg.ArchivePrefix != "team/a" {
		t.Errorf("archive settings %q %q %q", cfg.ArchiveDir, cfg.ArchiveBucket, cfg.ArchivePrefix)
	}
	if _, err := load(map[string]string{"ARCHIVE_BUCKET": "Evidence/x"}); err == nil || !strings.Contains(err.Error(), `ARCHIVE_BUCKET: "Evidence" is not an S3 bucket name`) {
		t.Errorf("bad bucket: %v", err)
	}
	// In Lambda the archive is the Firehose subscription: a local writer
	// is refused, not silently ignored; empty values (Terraform's) load.
	lambda := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "autoremediate-remediate", "ARCHIVE_DIR": "", "ARCHIVE_BUCKET": " "}
	if _, err := load(lambda); err != nil {
		t.Errorf("empty archive settings in Lambda: %v", err)
	}
	for _, name := range []string{"ARCHIVE_DIR", "ARCHIVE_BUCKET"} {
		env := map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "autoremediate-remediate", name: "evidence"}
		if _, err := load(env); err == nil || !strings.HasPrefix(err.Error(), name+": not used in Lambda") {
			t.Errorf("%s in Lambda: %v", name, err)
		}
	}
}
