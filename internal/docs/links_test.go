package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, relative to this package's directory (where
// go test runs).
const root = "../.."

// markdownFiles are the documents whose links must resolve, relative to the
// repository root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CONTRIBUTING.md", filepath.Join("terraform", "README.md")}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("no documents in docs/")
	}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, rel)
	}
	return files
}

// TestRelativeLinksResolve: every relative link of the documents points to a
// file or directory of the repository, and every #anchor to a heading of its
// target document, as GitHub renders them.
func TestRelativeLinksResolve(t *testing.T) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]map[string]bool{} // document (repo-relative) -> its anchors
	anchorsOf := func(doc string) (map[string]bool, error) {
		if a, ok := anchors[doc]; ok {
			return a, nil
		}
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			return nil, err
		}
		a := map[string]bool{}
		for _, s := range headingSlugs(string(b)) {
			a[s] = true
		}
		anchors[doc] = a
		return a, nil
	}
	checked := 0
	for _, file := range markdownFiles(t) {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links(string(b)) {
			target := l.target
			if isExternal(target) {
				continue
			}
			checked++
			path, anchor, _ := strings.Cut(target, "#")
			doc := file // a bare #anchor is in the same document
			if path != "" {
				doc = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				abs, err := filepath.Abs(filepath.Join(root, doc))
				if err != nil {
					t.Fatal(err)
				}
				if abs != absRoot && !strings.HasPrefix(abs, absRoot+string(filepath.Separator)) {
					t.Errorf("%s:%d: link %q leaves the repository", file, l.line, target)
					continue
				}
				if _, err := os.Stat(abs); err != nil {
					t.Errorf("%s:%d: link %q: no such file or directory %s", file, l.line, target, doc)
					continue
				}
				doc, _ = filepath.Rel(absRoot, abs)
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(doc, ".md") {
				t.Errorf("%s:%d: link %q: an anchor in %s, which is not a Markdown document", file, l.line, target, doc)
				continue
			}
			a, err := anchorsOf(doc)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", file, l.line, target, err)
				continue
			}
			if !a[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", file, l.line, target, doc, anchor)
			}
		}
	}
	if checked == 0 {
		t.Error("no relative links found: the link parser is broken")
	}
}

// isExternal reports whether a link target has a scheme (https:, mailto:).
func isExternal(target string) bool {
	return regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(target)
}

type link struct {
	target string
	line   int
}

var (
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	refDef     = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	codeSpan   = regexp.MustCompile("`+")
)

// links returns the link targets of a Markdown document outside fenced code
// blocks and code spans: inline links and images [text](target) and
// reference definitions [label]: target.
func links(doc string) []link {
	var out []link
	forEachLine(doc, func(n int, line string) {
		if m := refDef.FindStringSubmatch(line); m != nil {
			out = append(out, link{m[1], n})
			return
		}
		for _, m := range inlineLink.FindAllStringSubmatch(stripCodeSpans(line), -1) {
			out = append(out, link{m[1], n})
		}
	})
	return out
}

// forEachLine calls f with each line (numbered from 1) that is not inside a
// fenced code block, nor a fence itself.
func forEachLine(doc string, f func(n int, line string)) {
	fence := ""
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" \t") == "" {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, trimmed[:1]))]
			continue
		}
		f(i+1, line)
	}
}

// stripCodeSpans removes `code spans` (their content is never a link).
func stripCodeSpans(line string) string {
	var b strings.Builder
	for {
		loc := codeSpan.FindStringIndex(line)
		if loc == nil {
			b.WriteString(line)
			return b.String()
		}
		ticks := line[loc[0]:loc[1]]
		rest := line[loc[1]:]
		end := closingTicks(rest, len(ticks))
		if end < 0 { // an unmatched run is literal text
			b.WriteString(line[:loc[1]])
			line = rest
			continue
		}
		b.WriteString(line[:loc[0]])
		line = rest[end+len(ticks):]
	}
}

// closingTicks finds a run of exactly n backticks in s.
func closingTicks(s string, n int) int {
	for _, loc := range codeSpan.FindAllStringIndex(s, -1) {
		if loc[1]-loc[0] == n {
			return loc[0]
		}
	}
	return -1
}

var (
	atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)
	linkText   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// headingSlugs returns the anchors GitHub gives the document's headings:
// the heading's text, lower-cased, without punctuation other than hyphens
// and underscores, spaces turned into hyphens; a repeated slug gets -1, -2...
func headingSlugs(doc string) []string {
	var out []string
	seen := map[string]int{}
	forEachLine(doc, func(_ int, line string) {
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			return
		}
		slug := slugify(m[2])
		if n := seen[slug]; n > 0 {
			out = append(out, fmt.Sprintf("%s-%d", slug, n))
		} else {
			out = append(out, slug)
		}
		seen[slug]++
	})
	return out
}

// slugify turns a heading's Markdown into GitHub's anchor: the rendered
// text (code spans, emphasis and links reduced to their text) lower-cased,
// keeping letters, digits, spaces, hyphens and underscores, with each space
// a hyphen.
func slugify(heading string) string {
	text := linkText.ReplaceAllString(heading, "$1")
	text = strings.NewReplacer("`", "", "**", "", "*", "").Replace(text)
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
