package server_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/xks"
)

// TestExternalKeyStoreEndToEnd: one Trent node is the XKS proxy (TLS and
// mutual TLS on loopback), another is the KMS that keeps keys in an
// external key store through it; each has its own store, root key and
// audit trail. Misbehaving proxies (slow, refusing, answering garbage)
// are a real TLS server on loopback.
func TestExternalKeyStoreEndToEnd(t *testing.T) {
	proxy, proxyIDs, serverCA, kmsCA := startTLSXKSProxy(t)
	proxyAddr := strings.TrimPrefix(proxy.n.srv.XKSURL(), "https://")

	// A broken proxy at https://example.com: /slow never answers,
	// /refuse denies access, /garbage answers HTML.
	stop := make(chan struct{})
	bad := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow/"):
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		case strings.HasPrefix(r.URL.Path, "/refuse/"):
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errorName":"AccessDeniedException"}`))
		default:
			w.Write([]byte("<html>not a proxy</html>"))
		}
	}))
	bad.StartTLS()
	t.Cleanup(bad.Close)
	t.Cleanup(func() { close(stop) })

	dir := t.TempDir()
	caFile := filepath.Join(dir, "proxy-cas.pem")
	cas := append(bytes.Clone(serverCA.pem), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: bad.Certificate().Raw})...)
	mustNil(t, "write CAs", os.WriteFile(caFile, cas, 0o600))
	clientCert, clientKey := writeCert(t, dir, "kms-client", kmsCA.issue("cks.kms.us-east-1.amazonaws.com", false))
	n := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.XKSClient = server.XKSClientConfig{CAFile: caFile, TLSCert: clientCert, TLSKey: clientKey, Timeout: 2 * time.Second,
			Resolve: map[string]string{xksHost: proxyAddr, "example.com": bad.Listener.Addr().String()}}
	})
	ctx := context.Background()
	c := n.client("us-east-1")
	create := func(name, endpoint, path, secret, connectivity string) (*kms.CreateCustomKeyStoreOutput, error) {
		return c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
			CustomKeyStoreName: aws.String(name), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
			XksProxyUriEndpoint: aws.String(endpoint), XksProxyUriPath: aws.String(path),
			XksProxyConnectivity: types.XksProxyConnectivityType(connectivity),
			XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{
				AccessKeyId: aws.String(xksAccessKeyID), RawSecretAccessKey: aws.String(secret)},
		})
	}
	const endpoint = "https://" + xksHost
	path := xksPrefix + "/kms/xks/v1"

	t.Run("CreateCustomKeyStore refusals", func(t *testing.T) {
		_, err := create("vpc", endpoint, path, xksSecret, "VPC_ENDPOINT_SERVICE")
		wantAPIError(t, err, "UnsupportedOperationException", "*")
		_, err = create("wrong-secret", endpoint, path, xksSecret2, "PUBLIC_ENDPOINT")
		wantAPIError(t, err, "XksProxyIncorrectAuthenticationCredentialException", xks.MsgAuthentication)
		_, err = create("wrong-path", endpoint, "/nowhere/kms/xks/v1", xksSecret, "PUBLIC_ENDPOINT")
		wantAPIError(t, err, "XksProxyInvalidConfigurationException", xks.MsgInvalidURIPath)
		_, err = create("slow", "https://example.com", "/slow/kms/xks/v1", xksSecret, "PUBLIC_ENDPOINT")
		wantAPIError(t, err, "XksProxyUriUnreachableException", xks.MsgTimeout)
		_, err = create("refuse", "https://example.com", "/refuse/kms/xks/v1", xksSecret, "PUBLIC_ENDPOINT")
		wantAPIError(t, err, "XksProxyInvalidResponseException", xks.MsgAccessDenied)
		_, err = create("garbage", "https://example.com", "/garbage/kms/xks/v1", xksSecret, "PUBLIC_ENDPOINT")
		wantAPIError(t, err, "XksProxyInvalidResponseException", xks.MsgInvalidResponse)
	})

	out, err := create("trent-xks", endpoint, path, xksSecret, "PUBLIC_ENDPOINT")
	mustNil(t, "CreateCustomKeyStore", err)
	storeID := out.CustomKeyStoreId
	t.Run("same proxy URI twice", func(t *testing.T) {
		_, err := create("again", endpoint, path, xksSecret, "PUBLIC_ENDPOINT")
		wantAPIError(t, err, "XksProxyUriInUseException", "*")
	})
	_, err = c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: storeID})
	mustNil(t, "ConnectCustomKeyStore", err)
	waitState(t, c, storeID, types.ConnectionStateTypeConnected)

	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: storeID, XksKeyId: aws.String("foo")})
	mustNil(t, "CreateKey", err)
	if md := k.KeyMetadata; md.XksKeyConfiguration == nil || aws.ToString(md.XksKeyConfiguration.Id) != "foo" ||
		md.Origin != types.OriginTypeExternalKeyStore || aws.ToString(md.CustomKeyStoreId) != *storeID {
		t.Fatalf("KeyMetadata %+v", md)
	}
	keyID := k.KeyMetadata.KeyId

	t.Run("CreateKey refusals", func(t *testing.T) {
		for id, code := range map[string]string{"non_existing_key": "XksKeyNotFoundException", "encrypt_only_key": "XksKeyInvalidConfigurationException",
			"disabled_key": "XksKeyInvalidConfigurationException", "hmac_key": "XksKeyInvalidConfigurationException"} {
			_, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: storeID, XksKeyId: aws.String(id)})
			wantAPIError(t, err, code, "*")
		}
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: storeID})
		wantAPIError(t, err, "ValidationException", "*")
		// Each KMS key of an external key store uses its own external key.
		_, err = c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: storeID, XksKeyId: aws.String("foo")})
		wantAPIError(t, err, "XksKeyAlreadyInUseException", "The XksKeyId foo is already associated with another KMS key in this external key store. Each KMS key in an external key store must be associated with a different external key.")
	})
	encCtx := map[string]string{"purpose": "e2e"}
	t.Run("double encryption round trips", func(t *testing.T) {
		enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("held outside"), EncryptionContext: encCtx})
		mustNil(t, "Encrypt", err)
		if enc.CiphertextBlob[0] != 2 || bytes.Contains(enc.CiphertextBlob, []byte("held outside")) {
			t.Fatalf("blob %x", enc.CiphertextBlob)
		}
		dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
		mustNil(t, "Decrypt", err)
		if string(dec.Plaintext) != "held outside" || aws.ToString(dec.KeyId) != aws.ToString(k.KeyMetadata.Arn) {
			t.Fatalf("Decrypt %q %s", dec.Plaintext, aws.ToString(dec.KeyId))
		}
		dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
		mustNil(t, "GenerateDataKey", err)
		dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encCtx, KeyId: keyID})
		mustNil(t, "Decrypt data key", err)
		if !bytes.Equal(dec.Plaintext, dk.Plaintext) {
			t.Fatal("data key does not round trip")
		}
		// Another context: the proxy refuses the ciphertext, which KMS
		// reports as KMSInvalidStateException (spec, KMS considerations).
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other"}})
		wantAPIError(t, err, "KMSInvalidStateException", xks.MsgInvalidCiphertext)
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: keyID})
		mustNil(t, "DescribeKey", err)
		if d.KeyMetadata.XksKeyConfiguration == nil || aws.ToString(d.KeyMetadata.XksKeyConfiguration.Id) != "foo" {
			t.Fatalf("DescribeKey %+v", d.KeyMetadata)
		}
	})
	t.Run("key disabled on the proxy side", func(t *testing.T) {
		pc := proxy.n.client("us-east-1")
		_, err := pc.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(proxyIDs["foo"])})
		mustNil(t, "DisableKey at the proxy", err)
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
		wantAPIError(t, err, "KMSInvalidStateException", xks.MsgKeyNotEnabled)
		_, err = pc.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(proxyIDs["foo"])})
		mustNil(t, "EnableKey at the proxy", err)
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
		mustNil(t, "Encrypt after EnableKey", err)
	})
	t.Run("proxy down", func(t *testing.T) {
		proxy.n.stop()
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")})
		wantAPIError(t, err, "KMSInvalidStateException", xks.MsgUnreachable)
		_, err = c.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: storeID})
		mustNil(t, "DisconnectCustomKeyStore", err)
		waitState(t, c, storeID, types.ConnectionStateTypeDisconnected)
		_, err = c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: storeID})
		mustNil(t, "ConnectCustomKeyStore", err)
		e := waitState(t, c, storeID, types.ConnectionStateTypeFailed)
		if e.ConnectionErrorCode != types.ConnectionErrorCodeTypeXksProxyNotReachable {
			t.Fatalf("ConnectionErrorCode %s", e.ConnectionErrorCode)
		}
	})
}

// waitState polls DescribeCustomKeyStores until the store is in state,
// for at most 20 seconds (ConnectCustomKeyStore is asynchronous).
func waitState(t *testing.T, c *kms.Client, id *string, state types.ConnectionStateType) types.CustomKeyStoresListEntry {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
		mustNil(t, "DescribeCustomKeyStores", err)
		if e := out.CustomKeyStores[0]; e.ConnectionState == state {
			return e
		} else if time.Now().After(deadline) {
			t.Fatalf("custom key store %s is %s (%s), want %s", *id, e.ConnectionState, e.ConnectionErrorCode, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
