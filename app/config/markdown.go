package config

import "strings"

// Markers around the generated table in docs/configuration.md.
const (
	TableBegin = "<!-- BEGIN GENERATED: app/config MarkdownTable; regenerate with: go test ./app/config -run TestDocs -update -->"
	TableEnd   = "<!-- END GENERATED -->"
)

// MarkdownTable renders Vars() as the Markdown table of
// docs/configuration.md (without the markers). A test keeps the file in
// step with it.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Accepted values | Effect | Differences from upstream |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, v := range Vars() {
		name := "`" + v.Name + "`"
		if v.Deprecated {
			name += " (deprecated)"
		}
		def := "*unset*"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		upstream := v.Upstream
		if upstream == "" {
			upstream = "same"
		}
		cells := []string{name, def, cell(v.Accepts), cell(v.Description), cell(upstream)}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

// cell escapes what would break a table row or read as HTML.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}
