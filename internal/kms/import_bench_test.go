package kms_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// BenchmarkGetParametersForImport measures issuing import parameters: a
// fresh RSA wrapping key per call dominates, growing steeply with its size.
func BenchmarkGetParametersForImport(b *testing.B) {
	ctx := context.Background()
	svc, _ := newService(b, kms.Config{})
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{Origin: wire.Ptr("EXTERNAL")})
	if err != nil {
		b.Fatal(err)
	}
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096"} {
		b.Run(spec, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.GetParametersForImport(ctx, testCaller, &wire.GetParametersForImportRequest{KeyId: ck.KeyMetadata.KeyId,
					WrappingAlgorithm: wire.Ptr("RSAES_OAEP_SHA_256"), WrappingKeySpec: wire.Ptr(spec)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkImportKeyMaterial measures ImportKeyMaterial of the same
// symmetric material again (RSA-2048 OAEP unwrap, seal, store update).
func BenchmarkImportKeyMaterial(b *testing.B) {
	ctx := context.Background()
	svc, _ := newService(b, kms.Config{})
	ck, err := svc.CreateKey(ctx, testCaller, &wire.CreateKeyRequest{Origin: wire.Ptr("EXTERNAL")})
	if err != nil {
		b.Fatal(err)
	}
	p, err := svc.GetParametersForImport(ctx, testCaller, &wire.GetParametersForImportRequest{KeyId: ck.KeyMetadata.KeyId,
		WrappingAlgorithm: wire.Ptr("RSAES_OAEP_SHA_256"), WrappingKeySpec: wire.Ptr("RSA_2048")})
	if err != nil {
		b.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	ekm, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		b.Fatal(err)
	}
	in := &wire.ImportKeyMaterialRequest{KeyId: ck.KeyMetadata.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: ekm,
		ExpirationModel: wire.Ptr("KEY_MATERIAL_DOES_NOT_EXPIRE")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.ImportKeyMaterial(ctx, testCaller, in); err != nil {
			b.Fatal(err)
		}
	}
}
