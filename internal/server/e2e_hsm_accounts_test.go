//go:build cgo

package server_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestHSMKeyStoreAccountIsolation: another account's root, allowed every
// kms: action in its own account, neither sees nor changes a custom key
// store of the first account, by id or in a list, and cannot make a key
// in it: every operation that names it answers
// CustomKeyStoreNotFoundException, as for a store that does not exist.
func TestHSMKeyStoreAccountIsolation(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t)
	id := e.createStore(t, "a-store", e.cluster, e.anchor, softHSMPIN)
	if ent := e.connect(t, id); ent.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("connect: %s %s", ent.ConnectionState, ent.ConnectionErrorCode)
	}
	md := e.hsmKey(t, id)

	resp := signedPost(t, e.node, "kms", "us-east-1", "application/x-amz-json-1.1", "TrentAdmin.CreateAccount", `{"AccountId":"444455556666"}`)
	var acct struct{ AccountId, AccessKeyId, SecretAccessKey string }
	if err := json.NewDecoder(resp.Body).Decode(&acct); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CreateAccount: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	b := e.clientWith("us-east-1", acct.AccessKeyId, acct.SecretAccessKey)

	list, err := b.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{})
	mustOK(t, "DescribeCustomKeyStores by the other account", err)
	if len(list.CustomKeyStores) != 0 {
		t.Fatalf("the other account lists %d stores", len(list.CustomKeyStores))
	}
	_, err = b.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("a-store")})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = b.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = b.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = b.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = b.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("mine")})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = b.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = b.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	// The cluster serves the first account only: a store of the other
	// account on it, with the right trust anchor and PIN, could log in
	// first and lock the first account out.
	_, err = b.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("b-store"),
		CloudHsmClusterId: aws.String(e.cluster), TrustAnchorCertificate: aws.String(e.anchor), KeyStorePassword: aws.String(softHSMPIN)})
	wantAPIError(t, err, "CloudHsmClusterNotFoundException", "Cluster "+e.cluster+" was not found.")
	other := e.createStoreWith(t, b, "b-store", relatedCluster, e.anchor, softHSMPIN)
	_, err = b.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(other), CloudHsmClusterId: aws.String(e.cluster)})
	wantAPIError(t, err, "CloudHsmClusterNotFoundException", "Cluster "+e.cluster+" was not found.")

	// The store is as it was: connected, named a-store, and its key works.
	if ent := e.storeEntry(t, id); ent.ConnectionState != types.ConnectionStateTypeConnected || aws.ToString(ent.CustomKeyStoreName) != "a-store" {
		t.Fatalf("store after the other account's calls: %s %s", ent.ConnectionState, aws.ToString(ent.CustomKeyStoreName))
	}
	_, err = e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("still mine")})
	mustOK(t, "Encrypt with the store's key", err)
}

// createStoreWith creates a CloudHSM key store as the client c.
func (e *hsmEnv) createStoreWith(t *testing.T, c *kms.Client, name, cluster, anchor, pin string) string {
	t.Helper()
	out, err := c.CreateCustomKeyStore(context.Background(), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cluster),
		TrustAnchorCertificate: aws.String(anchor), KeyStorePassword: aws.String(pin),
	})
	if err != nil {
		t.Fatalf("CreateCustomKeyStore %s: %v", name, err)
	}
	return *out.CustomKeyStoreId
}
