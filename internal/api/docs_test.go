package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trent-kms/trent/internal/wire"
)

// unsupportedHeading opens the section of docs/behaviour.md that lists the
// operations of the KMS model that Trent does not route.
const unsupportedHeading = "## Operations not supported yet"

// documentedUnsupported returns the operation names in backquotes on the
// list items ("- ") of the section under unsupportedHeading.
func documentedUnsupported(t *testing.T, doc string) []string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+unsupportedHeading+"\n")
	if !ok {
		t.Fatalf("docs/behaviour.md has no %q section", unsupportedHeading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	// A list item runs from "- " to the next item or blank line; its
	// continuation lines are indented.
	var items []string
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "- "):
			items = append(items, line)
		case strings.HasPrefix(line, "  ") && len(items) > 0:
			items[len(items)-1] += " " + line
		}
	}
	var ops []string
	name := regexp.MustCompile("`([^`]+)`")
	for _, it := range items {
		for _, m := range name.FindAllStringSubmatch(it, -1) {
			ops = append(ops, m[1])
		}
	}
	if len(ops) == 0 && !strings.Contains(section, "\nNone: Trent routes every operation") {
		t.Fatalf("no operations listed under %q, and it does not say that there are none", unsupportedHeading)
	}
	return ops
}

// TestBehaviourDocListsUnroutedOperations holds the list of unsupported
// operations in docs/behaviour.md against the route table: every operation
// of the KMS model that is not routed is listed, nothing routed is listed,
// every listed name is an operation of the model, and the server answers
// each listed one with UnknownOperationException, as the page says.
func TestBehaviourDocListsUnroutedOperations(t *testing.T) {
	b, err := os.ReadFile("../../docs/behaviour.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := documentedUnsupported(t, string(b))
	seen := map[string]bool{}
	for _, op := range listed {
		if seen[op] {
			t.Errorf("%s is listed twice", op)
		}
		seen[op] = true
		if _, ok := wire.Operations[op]; !ok {
			t.Errorf("%s is listed but is not an operation of the KMS model", op)
		}
		if _, ok := routes["TrentService."+op]; ok {
			t.Errorf("%s is routed but listed as not supported", op)
		}
	}
	var missing []string
	for op := range wire.Operations {
		if _, ok := routes["TrentService."+op]; !ok && !seen[op] {
			missing = append(missing, op)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("not routed and not listed as not supported in docs/behaviour.md: %v", missing)
	}

	h := NewHandler(Config{})
	for _, op := range listed {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", "TrentService."+op)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var e struct {
			Type string `json:"__type"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusBadRequest || e.Type != "UnknownOperationException" {
			t.Errorf("%s: %d %s, want 400 UnknownOperationException", op, w.Code, w.Body)
		}
	}
}

// TestDocumentedUnsupportedParser checks the parser on a page where an
// operation is missing and a routed one is listed, so the test above
// cannot pass by reading nothing.
func TestDocumentedUnsupportedParser(t *testing.T) {
	doc := "# x\n\n" + unsupportedHeading + "\n\nProse with `UnknownOperationException`.\n\n" +
		"- Grants: `CreateGrant`,\n  `ListGrants`.\n- Keys: `Encrypt`.\n\n## Next\n\n- `RevokeGrant`\n"
	got := documentedUnsupported(t, doc)
	if want := []string{"CreateGrant", "ListGrants", "Encrypt"}; !slices.Equal(got, want) {
		t.Fatalf("parsed %q, want %q", got, want)
	}
}
