package archive

import (
	_ "embed"
	"strings"
)

//go:embed athena.sql
var athenaDDL string

// AthenaDDL returns the CREATE TABLE statement of the archive (athena.sql)
// for a bucket and optional key prefix.
func AthenaDDL(bucket, prefix string) string {
	loc := bucket
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		loc += "/" + prefix
	}
	return strings.ReplaceAll(athenaDDL, "ARCHIVE_BUCKET", loc)
}
