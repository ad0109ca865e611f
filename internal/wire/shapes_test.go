package wire_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/trent-kms/trent/internal/wire/internal/codegen"
)

// TestShapesUpToDate fails when shapes.go, decoders.go, auditjson.go or encoders.go differs from what
// the generator produces from model/ now. Fix it with: go generate ./internal/wire
func TestShapesUpToDate(t *testing.T) {
	model, err := os.ReadFile("model/kms-api-model.json")
	if err != nil {
		t.Fatal(err)
	}
	sup, err := os.ReadFile("model/supplement.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := codegen.Generate(model, sup)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("shapes.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("shapes.go is stale; run go generate ./internal/wire")
	}
	want, err = codegen.GenerateDecoders(model, sup)
	if err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile("decoders.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("decoders.go is stale; run go generate ./internal/wire")
	}
	want, err = codegen.GenerateAudit(model, sup)
	if err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile("auditjson.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("auditjson.go is stale; run go generate ./internal/wire")
	}
	want, err = codegen.GenerateEncoders(model, sup)
	if err != nil {
		t.Fatal(err)
	}
	got, err = os.ReadFile("encoders.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("encoders.go is stale; run go generate ./internal/wire")
	}
}
