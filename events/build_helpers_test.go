package events

import (
	"os"
	"path/filepath"
	"sort"
)

func testdataFS(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }

func sortStrings(s []string) { sort.Strings(s) }
