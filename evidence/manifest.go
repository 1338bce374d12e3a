package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/autoremediate/autoremediate/archive"
)

// File is one file of the pack.
type File struct {
	Name string
	Body []byte
}

// ManifestEntry is a file's entry in the manifest.
type ManifestEntry struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
}

// Manifest is manifest.json: the files' hashes and what they were made
// from, so that an auditor can check that none was changed.
type Manifest struct {
	GeneratedAt string          `json:"generatedAt"`
	Period      ManifestPeriod  `json:"period"`
	Filters     ManifestFilters `json:"filters"`
	Sources     ManifestSources `json:"sources"`
	Tool        Tool            `json:"tool"`
	Files       []ManifestEntry `json:"files"`
}

// ManifestPeriod is the report's period.
type ManifestPeriod struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ManifestFilters are --resource and --rule ("" for all).
type ManifestFilters struct {
	Resource string `json:"resource"`
	Rule     string `json:"rule"`
}

// ManifestSources are where the evidence came from.
type ManifestSources struct {
	Config  ManifestConfig  `json:"config"`
	Archive ManifestArchive `json:"archive"`
}

// ManifestConfig is the AWS Config account and regions read.
type ManifestConfig struct {
	Account string   `json:"account"`
	Regions []string `json:"regions"`
}

// ManifestArchive is the outcome archive read.
type ManifestArchive struct {
	Location string `json:"location"`
	// Files are the archive files read, with their SHA-256, size and S3
	// object version.
	Files          []archive.FileSum `json:"files"`
	Outcomes       int               `json:"outcomes"`
	MalformedLines int               `json:"malformedLines"`
}

// Files renders the pack: evidence.md, timeline.csv, evidence.html, then
// manifest.json with their hashes and SHA256SUMS in sha256sum's format.
func (r *Report) Files() ([]File, error) {
	html, err := r.HTML()
	if err != nil {
		return nil, err
	}
	files := []File{{MarkdownFile, r.Markdown()}, {CSVFile, r.CSV()}, {HTMLFile, html}}
	m := Manifest{
		GeneratedAt: stamp(r.GeneratedAt),
		Period:      ManifestPeriod{From: stamp(r.From), To: stamp(r.To)},
		Filters:     ManifestFilters{Resource: r.Filter.Resource, Rule: r.Filter.Rule},
		Sources: ManifestSources{
			Config:  ManifestConfig{Account: r.Account, Regions: append([]string{}, r.Regions...)},
			Archive: ManifestArchive{Location: r.ArchiveLocation, Files: append([]archive.FileSum{}, r.ArchiveSums...), Outcomes: r.OutcomesRead, MalformedLines: len(r.Malformed)},
		},
		Tool: r.Tool,
	}
	var sums strings.Builder
	for _, f := range files {
		sum := sha256.Sum256(f.Body)
		h := hex.EncodeToString(sum[:])
		m.Files = append(m.Files, ManifestEntry{Name: f.Name, SHA256: h, Bytes: len(f.Body)})
		fmt.Fprintf(&sums, "%s  %s\n", h, f.Name)
	}
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", ManifestFile, err)
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), ManifestFile)
	return append(files, File{ManifestFile, body}, File{SumsFile, []byte(sums.String())}), nil
}

// BuildTool describes the running binary from its build information: the
// main module's version and the VCS revision it was built from.
func BuildTool(version string) Tool {
	t := Tool{Name: "remediate", Version: version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return t
	}
	t.Module, t.GoVersion = info.Main.Path, info.GoVersion
	if t.Version == "" && info.Main.Version != "(devel)" {
		t.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			t.Revision = s.Value
		case "vcs.time":
			t.RevisionTime = s.Value
		case "vcs.modified":
			t.Modified = s.Value == "true"
		}
	}
	return t
}
