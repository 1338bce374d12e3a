package archive

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autoremediate/autoremediate/remediation"
)

// outcomeJSONKeys returns the keys of the outcome JSON, from an Outcome
// whose every field is set (so that omitempty fields are there too).
func outcomeJSONKeys(t *testing.T) []string {
	t.Helper()
	var o remediation.Outcome
	v := reflect.ValueOf(&o).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Int64, reflect.Int:
			f.SetInt(1)
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
		case reflect.Struct:
			if f.Type() == reflect.TypeOf(time.Time{}) {
				f.Set(reflect.ValueOf(time.Unix(1, 0)))
			}
		}
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestAthenaColumnsAreTheOutcomeFields(t *testing.T) {
	ddl := AthenaDDL("evidence", "")
	cols := regexp.MustCompile(`(?s)CREATE EXTERNAL TABLE IF NOT EXISTS outcomes \((.*?)\n\)\nPARTITIONED BY`).FindStringSubmatch(ddl)
	if cols == nil {
		t.Fatalf("no column list in the DDL:\n%s", ddl)
	}
	var got []string
	types := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\s*`([A-Za-z]+)` ([a-z]+),?$").FindAllStringSubmatch(cols[1], -1) {
		got = append(got, m[1])
		types[m[1]] = m[2]
	}
	if n := strings.Count(strings.TrimSpace(cols[1]), "\n") + 1; n != len(got) {
		t.Errorf("%d column lines, %d read: a line the test does not understand", n, len(got))
	}
	slices.Sort(got)
	want := outcomeJSONKeys(t)
	if !slices.Equal(got, want) {
		t.Errorf("DDL columns %v\nwant the outcome JSON's keys %v", got, want)
	}
	// The JSON's numbers are bigint columns, the rest strings.
	line, _ := Line(remediation.Outcome{DurationMs: 5})
	var probe map[string]any
	_ = json.Unmarshal(line, &probe)
	for k, v := range probe {
		if _, num := v.(float64); num != (types[k] == "bigint") {
			t.Errorf("column %s is %s for a JSON %T", k, types[k], v)
		}
	}
}

func TestAthenaPartitionsAreTheLayout(t *testing.T) {
	ddl := AthenaDDL("evidence", "/team/a/")
	for _, want := range []string{
		"LOCATION 's3://evidence/team/a/" + Prefix + "/'",
		"'storage.location.template' = 's3://evidence/team/a/" + Prefix + "/${day}/'",
		"'projection.day.format' = 'yyyy/MM/dd'",
	} {
		if !strings.Contains(ddl, want) {
			t.Errorf("DDL lacks %s", want)
		}
	}
	// yyyy/MM/dd under outcomes/ is DayDir's folder.
	day := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if got := Prefix + "/" + strings.NewReplacer("yyyy", "2026", "MM", "12", "dd", "03").Replace("yyyy/MM/dd"); got != DayDir(day) {
		t.Errorf("projection folder %s, the writers' %s", got, DayDir(day))
	}
	if strings.Contains(ddl, "ARCHIVE_BUCKET") {
		t.Error("a placeholder is left")
	}
}
