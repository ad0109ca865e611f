// Command gen writes shapes.go, decoders.go, auditjson.go and encoders.go for package wire from the AWS KMS model in
// model/kms-api-model.json and the hand-written model/supplement.json. Run it
// with go generate from internal/wire.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/trent-kms/trent/internal/wire/internal/codegen"
)

func main() {
	model := flag.String("model", "model/kms-api-model.json", "botocore service-2 model")
	sup := flag.String("supplement", "model/supplement.json", "hand-written supplement merged over the model")
	out := flag.String("o", "shapes.go", "output file for the shapes")
	decOut := flag.String("decoders", "decoders.go", "output file for the request decoders")
	auditOut := flag.String("audit", "auditjson.go", "output file for the audit trail encoders")
	encOut := flag.String("encoders", "encoders.go", "output file for the response encoders")
	flag.Parse()

	m, err := os.ReadFile(*model)
	if err != nil {
		log.Fatal(err)
	}
	s, err := os.ReadFile(*sup)
	if err != nil {
		log.Fatal(err)
	}
	src, err := codegen.Generate(m, s)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
	dec, err := codegen.GenerateDecoders(m, s)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*decOut, dec, 0o644); err != nil {
		log.Fatal(err)
	}
	aud, err := codegen.GenerateAudit(m, s)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*auditOut, aud, 0o644); err != nil {
		log.Fatal(err)
	}
	enc, err := codegen.GenerateEncoders(m, s)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*encOut, enc, 0o644); err != nil {
		log.Fatal(err)
	}
}
