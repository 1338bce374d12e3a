package archive

import (
	"context"
	"testing"
)

// The cost of archiving one outcome locally: ARCHIVE_DIR's append (one
// write call) and ARCHIVE_BUCKET's buffering (the PutObject at Close is
// not counted). b.SetBytes is one outcome line.
func BenchmarkDirArchive(b *testing.B) {
	d := NewDir(b.TempDir(), NewRun(start))
	o := testOutcome("bench-bucket", day1)
	line, _ := Line(o)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := d.Archive(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
	_ = d.Close(context.Background())
}

func BenchmarkBucketArchive(b *testing.B) {
	bk := NewBucket(&putRecorder{}, "evidence", "", NewRun(start))
	bk.MaxObjectBytes = 1 << 40 // buffering only
	o := testOutcome("bench-bucket", day1)
	line, _ := Line(o)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := bk.Archive(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
