//go:build !cgo

package server_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestHSMNoCgo: a build without cgo has no PKCS#11 and says so.
func TestHSMNoCgo(t *testing.T) {
	n := startNode(t)
	_, err := n.client("us-east-1").CreateCustomKeyStore(context.Background(), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String("hsm"), CloudHsmClusterId: aws.String("cluster-2ab3cd4ef5g"),
		TrustAnchorCertificate: aws.String("x"), KeyStorePassword: aws.String("1234567"),
	})
	wantAPIError(t, err, "UnsupportedOperationException",
		"This build of Trent has no HSM support: it was built without cgo (CGO_ENABLED=0). See docs/hsm.md.")
}
