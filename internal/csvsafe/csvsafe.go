// Package csvsafe keeps CSV files written for people from being read as
// formulas by spreadsheet programs (CSV injection): text that AWS lets
// anyone choose, such as an IAM user name or a finding title, may start
// with "=", "+", "-" or "@".
package csvsafe

import "strings"

// Cell returns v with a leading apostrophe when it starts with a character
// that Excel, LibreOffice or Google Sheets treat as the start of a formula
// (=, +, -, @) or that they strip before looking for one (tab, carriage
// return). The apostrophe is what those programs hide when they show a
// cell as text.
func Cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// Record applies Cell to every field of rec, in place, and returns it.
func Record(rec []string) []string {
	for i, v := range rec {
		rec[i] = Cell(v)
	}
	return rec
}
