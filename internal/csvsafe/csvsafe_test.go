package csvsafe

import "testing"

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://x","y")`: `'=HYPERLINK("http://x","y")`,
		"+1":                         "'+1",
		"-2+3":                       "'-2+3",
		"@SUM(A1)":                   "'@SUM(A1)",
		"\t=1":                       "'\t=1",
		"\r=1":                       "'\r=1",
		"alice":                      "alice",
		"a=b":                        "a=b",
		"":                           "",
	} {
		if got := Cell(in); got != want {
			t.Errorf("Cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecord(t *testing.T) {
	rec := Record([]string{"ok", "=1", ""})
	if rec[0] != "ok" || rec[1] != "'=1" || rec[2] != "" {
		t.Errorf("Record = %q", rec)
	}
}
