package config

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated table in docs/configuration.md")

const docsPath = "../../docs/configuration.md"

// seedPaths are where the upstream README snapshot may be found.
var seedPaths = []string{
	"../../../shared/seeds/004_b16417054cbf7b32.txt",
	"/work/shared/seeds/004_b16417054cbf7b32.txt",
}

// TestVarsCoverUpstreamREADME: every variable the upstream README documents
// under a "#### `NAME`" heading is one of ours.
func TestVarsCoverUpstreamREADME(t *testing.T) {
	var readme []byte
	for _, p := range seedPaths {
		if b, err := os.ReadFile(p); err == nil {
			readme = b
			break
		}
	}
	if readme == nil {
		t.Skipf("upstream README snapshot not found at %v; cannot compare", seedPaths)
	}
	known := map[string]bool{}
	for _, v := range Vars() {
		known[v.Name] = true
	}
	heading := regexp.MustCompile("(?m)^#### `([A-Za-z0-9_]+)`")
	matches := heading.FindAllStringSubmatch(string(readme), -1)
	if len(matches) < 40 {
		t.Fatalf("found only %d variable headings; has the snapshot's format changed?", len(matches))
	}
	for _, m := range matches {
		if !known[m[1]] {
			t.Errorf("README documents %s, Vars() does not", m[1])
		}
	}
}

// TestDocs keeps docs/configuration.md in step with Vars(): the generated
// table between the markers must be current (run with -update to rewrite
// it), and every variable must appear in the file.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read %s: %v", docsPath, err)
	}
	doc := string(b)
	begin := strings.Index(doc, TableBegin)
	end := strings.Index(doc, TableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q and %q", docsPath, TableBegin, TableEnd)
	}
	want := doc[:begin] + TableBegin + "\n" + MarkdownTable() + TableEnd + doc[end+len(TableEnd):]
	if *update && want != doc {
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(docsPath)
		t.Logf("rewrote %s", abs)
		doc = want
	}
	if want != doc {
		t.Errorf("%s: generated table is stale; run: go test ./app/config -run TestDocs -update", docsPath)
	}
	for _, v := range Vars() {
		if !strings.Contains(doc, "`"+v.Name+"`") {
			t.Errorf("%s does not mention %s", docsPath, v.Name)
		}
	}
}

func TestMarkdownTable(t *testing.T) {
	table := MarkdownTable()
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != len(Vars())+2 {
		t.Fatalf("table has %d lines, want header, rule and %d rows", len(lines), len(Vars()))
	}
	for i, v := range Vars() {
		row := lines[i+2]
		if !strings.HasPrefix(row, "| `"+v.Name+"`") {
			t.Errorf("row %d = %q, want %s", i, row, v.Name)
		}
		// Five cells: an unescaped pipe inside a cell would add more.
		if n := strings.Count(row, "|") - strings.Count(row, `\|`); n != 6 {
			t.Errorf("row for %s has %d separators, want 6: %s", v.Name, n, row)
		}
		if strings.ContainsAny(strings.ReplaceAll(row, "`", ""), "<>") {
			t.Errorf("row for %s has unescaped angle brackets: %s", v.Name, row)
		}
	}
}
