package docs

import (
	"reflect"
	"testing"
)

// The parsers the link test relies on, on the cases GitHub's rendering
// decides: what is a link, what is a heading, what its anchor is.
func TestLinkParsing(t *testing.T) {
	doc := "# Title\n" +
		"See [a](a.md), ![img](img/x.png \"t\") and [b](b.md#some-part); not `[c](c.md)` nor ``x [d](d.md) x``.\n" +
		"[ref]: ref.md#x\n" +
		"```markdown\n[e](e.md)\n## Not a heading\n```\n" +
		"   ~~~~\n[f](f.md)\n   ~~~~\n" +
		"[g](https://example.com/g) [h](#title)\n"
	var got []string
	for _, l := range links(doc) {
		got = append(got, l.target)
	}
	want := []string{"a.md", "img/x.png", "b.md#some-part", "ref.md#x", "https://example.com/g", "#title"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("links = %q, want %q", got, want)
	}
	if !isExternal("https://example.com") || !isExternal("mailto:a@example.com") || isExternal("docs/a.md") || isExternal("#x") {
		t.Error("isExternal misclassifies")
	}
	if got, want := headingSlugs(doc), []string{"title"}; !reflect.DeepEqual(got, want) {
		t.Errorf("headingSlugs = %q, want %q (headings in code blocks do not count)", got, want)
	}
}

func TestSlugify(t *testing.T) {
	for heading, want := range map[string]string{
		"Sweep: fix what is already broken":     "sweep-fix-what-is-already-broken",
		"Where it goes: log line, metrics, SNS": "where-it-goes-log-line-metrics-sns",
		"`remediate invoke`":                    "remediate-invoke",
		"SOC 2 report from Security Hub":        "soc-2-report-from-security-hub",
		"The `rule_map` variable (v2.0)":        "the-rule_map-variable-v20",
		"A [linked](x.md) **bold** heading":     "a-linked-bold-heading",
		"Modes: enforce and dry-run":            "modes-enforce-and-dry-run",
		"Ünïcode & more":                        "ünïcode--more",
	} {
		if got := slugify(heading); got != want {
			t.Errorf("slugify(%q) = %q, want %q", heading, got, want)
		}
	}
	doc := "## Checks\n### Checks\n## Checks ##\n"
	if got, want := headingSlugs(doc), []string{"checks", "checks-1", "checks-2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("repeated headings: %q, want %q", got, want)
	}
}
