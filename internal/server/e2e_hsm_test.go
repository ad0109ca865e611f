//go:build cgo

package server_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/miekg/pkcs11"

	"github.com/trent-kms/trent/internal/hsm"
	"github.com/trent-kms/trent/internal/keystore"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/store/embedded"
)

// hsmEnv is a node with HSM clusters declared over SoftHSM tokens.
type hsmEnv struct {
	*node
	c        *kms.Client
	module   string
	token    string // the main cluster's token label
	anchor   string // PEM of the main cluster's trust anchor
	cluster  string
	dir      string
	clusters []hsm.Cluster
}

const (
	mainCluster    = "cluster-2a3b4c5d6e7"
	relatedCluster = "cluster-3a3b4c5d6e7" // same trust anchor, its own token
	otherCluster   = "cluster-4a3b4c5d6e7" // another trust anchor
	ghostCluster   = "cluster-5a3b4c5d6e7" // a token label that does not exist
	noModCluster   = "cluster-6a3b4c5d6e7" // a module that does not exist
)

// hsmConfig declares the test clusters in cfg.
func hsmConfig(t *testing.T, dir string) ([]hsm.Cluster, string, string, string) {
	module, labels := softHSMTokenLabels(t)
	token, related, other := labels[0], labels[1], labels[2]
	anchorFile, anchor := trustAnchor(t, dir, "main")
	otherFile, _ := trustAnchor(t, dir, "other")
	ghostFile, _ := trustAnchor(t, dir, "ghost")
	noModFile, _ := trustAnchor(t, dir, "nomod")
	return []hsm.Cluster{
		{ID: mainCluster, Module: module, TokenLabel: token, TrustAnchorFile: anchorFile},
		{ID: relatedCluster, Module: module, TokenLabel: related, TrustAnchorFile: anchorFile},
		{ID: otherCluster, Module: module, TokenLabel: other, TrustAnchorFile: otherFile},
		{ID: ghostCluster, Module: module, TokenLabel: "no-such-token", TrustAnchorFile: ghostFile},
		{ID: noModCluster, Module: filepath.Join(dir, "missing.so"), TokenLabel: "x", TrustAnchorFile: noModFile},
	}, module, token, anchor
}

func startHSM(t *testing.T, opts ...func(*server.Config)) *hsmEnv {
	t.Helper()
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	dir := privateDir(t)
	cfgDir := t.TempDir()
	clusters, module, token, anchor := hsmConfig(t, cfgDir)
	declare := func(c *server.Config) { c.HSMClusters = clusters }
	n := startNodeIn(t, dir, append([]func(*server.Config){declare}, opts...)...)
	return &hsmEnv{node: n, c: n.client("us-east-1"), module: module, token: token, anchor: anchor, cluster: mainCluster, dir: dir, clusters: clusters}
}

func (e *hsmEnv) createStore(t *testing.T, name, cluster, anchor, pin string) string {
	t.Helper()
	out, err := e.c.CreateCustomKeyStore(context.Background(), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(cluster),
		TrustAnchorCertificate: aws.String(anchor), KeyStorePassword: aws.String(pin),
	})
	if err != nil {
		t.Fatalf("CreateCustomKeyStore %s: %v", name, err)
	}
	return *out.CustomKeyStoreId
}

func (e *hsmEnv) storeEntry(t *testing.T, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	out, err := e.c.DescribeCustomKeyStores(context.Background(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil || len(out.CustomKeyStores) != 1 {
		t.Fatalf("DescribeCustomKeyStores %s: %v, %d entries", id, err, len(out.CustomKeyStores))
	}
	return out.CustomKeyStores[0]
}

// connect connects a store and waits, bounded, for the connection to end
// CONNECTING; it returns the entry.
func (e *hsmEnv) connect(t *testing.T, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	if _, err := e.c.ConnectCustomKeyStore(context.Background(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("ConnectCustomKeyStore: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ent := e.storeEntry(t, id)
		if ent.ConnectionState != types.ConnectionStateTypeConnecting {
			return ent
		}
		if time.Now().After(deadline) {
			t.Fatal("still CONNECTING after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *hsmEnv) disconnect(t *testing.T, id string) {
	t.Helper()
	if _, err := e.c.DisconnectCustomKeyStore(context.Background(), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("DisconnectCustomKeyStore: %v", err)
	}
}

func (e *hsmEnv) hsmKey(t *testing.T, id string) *types.KeyMetadata {
	t.Helper()
	out, err := e.c.CreateKey(context.Background(), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
	if err != nil {
		t.Fatalf("CreateKey in %s: %v", id, err)
	}
	return out.KeyMetadata
}

// TestHSMKeyStore: a custom key store over a SoftHSM token, created,
// connected, with a key whose AES-256 material lives in the token,
// non-extractable, used by every symmetric operation with Trent's blob
// format; the PIN is nowhere on disk.
func TestHSMKeyStore(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t)
	before := time.Now().Add(-time.Second)
	id := e.createStore(t, "my-hsm", mainCluster, e.anchor, softHSMPIN)
	if !strings.HasPrefix(id, "cks-") || len(id) != 21 {
		t.Fatalf("custom key store id %q", id)
	}
	ent := e.storeEntry(t, id)
	if ent.ConnectionState != types.ConnectionStateTypeDisconnected || aws.ToString(ent.CustomKeyStoreName) != "my-hsm" ||
		ent.CustomKeyStoreType != types.CustomKeyStoreTypeAwsCloudhsm || aws.ToString(ent.CloudHsmClusterId) != mainCluster ||
		aws.ToString(ent.TrustAnchorCertificate) != e.anchor || ent.ConnectionErrorCode != "" || ent.XksProxyConfiguration != nil ||
		ent.CreationDate == nil || ent.CreationDate.Before(before) {
		t.Fatalf("new store: %+v", ent)
	}
	_, err := e.c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreInvalidStateException", "Custom key store "+id+" is DISCONNECTED.")

	if ent := e.connect(t, id); ent.ConnectionState != types.ConnectionStateTypeConnected || ent.ConnectionErrorCode != "" {
		t.Fatalf("after connect: %s %s", ent.ConnectionState, ent.ConnectionErrorCode)
	}
	// Connecting a connected store succeeds and changes nothing.
	if ent := e.connect(t, id); ent.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("second connect: %s", ent.ConnectionState)
	}

	md := e.hsmKey(t, id)
	if aws.ToString(md.CustomKeyStoreId) != id || aws.ToString(md.CloudHsmClusterId) != mainCluster || md.Origin != types.OriginTypeAwsCloudhsm ||
		md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt || aws.ToString(md.CurrentKeyMaterialId) == "" {
		t.Fatalf("key metadata: %+v", md)
	}
	if d := describe(t, e.c, *md.KeyId); aws.ToString(d.CustomKeyStoreId) != id || aws.ToString(d.CloudHsmClusterId) != mainCluster {
		t.Fatalf("DescribeKey: %+v", d)
	}

	t.Run("material-in-token-non-extractable", func(t *testing.T) {
		found, v, valueErr := tokenObject(t, e.module, e.token, *md.KeyId,
			pkcs11.CKA_SENSITIVE, pkcs11.CKA_EXTRACTABLE, pkcs11.CKA_TOKEN, pkcs11.CKA_VALUE_LEN, pkcs11.CKA_KEY_TYPE, pkcs11.CKA_ID)
		if !found {
			t.Fatal("no key object labelled with the key id")
		}
		if !bytes.Equal(v[pkcs11.CKA_SENSITIVE], []byte{1}) || !bytes.Equal(v[pkcs11.CKA_EXTRACTABLE], []byte{0}) || !bytes.Equal(v[pkcs11.CKA_TOKEN], []byte{1}) {
			t.Fatalf("sensitive %v extractable %v token %v", v[pkcs11.CKA_SENSITIVE], v[pkcs11.CKA_EXTRACTABLE], v[pkcs11.CKA_TOKEN])
		}
		if len(v[pkcs11.CKA_VALUE_LEN]) == 0 || v[pkcs11.CKA_VALUE_LEN][0] != 32 {
			t.Fatalf("value length %v, want 32", v[pkcs11.CKA_VALUE_LEN])
		}
		if !errors.Is(valueErr, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Fatalf("reading CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", valueErr)
		}
	})

	t.Run("round-trips", func(t *testing.T) {
		encCtx := map[string]string{"purpose": "hsm-test"}
		enc, err := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("in the token"), EncryptionContext: encCtx})
		mustOK(t, "Encrypt", err)
		// Trent's blob format: version 1, naming the key and its material.
		ct, err := keystore.ParseCiphertext(enc.CiphertextBlob)
		if err != nil || ct.KeyID != *md.KeyId || ct.MaterialID != *md.CurrentKeyMaterialId {
			t.Fatalf("blob: %v %+v", err, ct)
		}
		dec, err := e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
		mustOK(t, "Decrypt", err)
		if string(dec.Plaintext) != "in the token" || aws.ToString(dec.KeyId) != *md.Arn {
			t.Fatalf("Decrypt = %q from %s", dec.Plaintext, aws.ToString(dec.KeyId))
		}
		_, err = e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		wantAPIError(t, err, "InvalidCiphertextException", "*")
		tampered := bytes.Clone(enc.CiphertextBlob)
		tampered[len(tampered)-1] ^= 1
		_, err = e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: encCtx})
		wantAPIError(t, err, "InvalidCiphertextException", "*")

		soft := newKey(t, e.c)
		re, err := e.c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: encCtx, DestinationKeyId: soft.KeyId})
		mustOK(t, "ReEncrypt to a software key", err)
		back, err := e.c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: re.CiphertextBlob, DestinationKeyId: md.KeyId})
		mustOK(t, "ReEncrypt into the HSM key", err)
		if aws.ToString(back.SourceKeyId) != *soft.Arn || aws.ToString(back.KeyId) != *md.Arn {
			t.Fatalf("ReEncrypt keys %s -> %s", aws.ToString(back.SourceKeyId), aws.ToString(back.KeyId))
		}
		dec, err = e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: back.CiphertextBlob})
		mustOK(t, "Decrypt after ReEncrypt", err)
		if string(dec.Plaintext) != "in the token" {
			t.Fatalf("plaintext %q", dec.Plaintext)
		}

		dk, err := e.c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
		mustOK(t, "GenerateDataKey", err)
		dec, err = e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
		mustOK(t, "Decrypt data key", err)
		if !bytes.Equal(dec.Plaintext, dk.Plaintext) || len(dk.Plaintext) != 32 {
			t.Fatal("data key does not round-trip")
		}
		np, err := e.c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: md.KeyId, NumberOfBytes: aws.Int32(16)})
		mustOK(t, "GenerateDataKeyWithoutPlaintext", err)
		dec, err = e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: np.CiphertextBlob})
		mustOK(t, "Decrypt data key without plaintext", err)
		if len(dec.Plaintext) != 16 {
			t.Fatalf("data key of %d bytes", len(dec.Plaintext))
		}
		// Two encryptions of one plaintext differ (fresh IVs).
		a, _ := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		b, _ := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		if a == nil || b == nil || bytes.Equal(a.CiphertextBlob, b.CiphertextBlob) {
			t.Fatal("two encryptions of one plaintext are equal")
		}
	})

	t.Run("refused-in-custom-key-stores", func(t *testing.T) {
		for _, in := range []*kms.CreateKeyInput{
			{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id), KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt},
			{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id), KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac},
			{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id), MultiRegion: aws.Bool(true)},
		} {
			_, err := e.c.CreateKey(ctx, in)
			wantAPIError(t, err, "UnsupportedOperationException", "*")
		}
		_, err := e.c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm})
		wantAPIError(t, err, "ValidationException", "CustomKeyStoreId is required when Origin is AWS_CLOUDHSM.")
		_, err = e.c.CreateKey(ctx, &kms.CreateKeyInput{CustomKeyStoreId: aws.String(id)})
		wantAPIError(t, err, "ValidationException", "CustomKeyStoreId is not valid with Origin AWS_KMS.")
		_, err = e.c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: aws.String(id), XksKeyId: aws.String("k")})
		wantAPIError(t, err, "UnsupportedOperationException", "Origin EXTERNAL_KEY_STORE does not match the type AWS_CLOUDHSM of custom key store "+id+".")
		_, err = e.c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
		wantAPIError(t, err, "CustomKeyStoreNotFoundException", "Custom key store cks-1234567890abcdef0 does not exist.")
		_, err = e.c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: md.KeyId})
		wantAPIError(t, err, "UnsupportedOperationException", "*")
		_, err = e.c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: md.KeyId})
		wantAPIError(t, err, "UnsupportedOperationException", "*")
	})

	t.Run("pin-never-on-disk", func(t *testing.T) {
		audited := false
		err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(softHSMPIN)) {
				t.Errorf("%s holds the PIN", path)
			}
			if bytes.Contains(b, []byte(`"kms:CreateCustomKeyStore"`)) || bytes.Contains(b, []byte(`"CreateCustomKeyStore"`)) {
				audited = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !audited {
			t.Error("no audit record of CreateCustomKeyStore in the data directory")
		}
	})
}

// TestHSMDisconnect: keys of a disconnected store answer
// KMSInvalidStateException, including requests under way when it
// disconnects; a reconnected store serves them again.
func TestHSMDisconnect(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t)
	id := e.createStore(t, "hsm", mainCluster, e.anchor, softHSMPIN)
	e.connect(t, id)
	md := e.hsmKey(t, id)
	enc, err := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("before")})
	mustOK(t, "Encrypt", err)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var ok, refused int
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("during")})
				var ae smithy.APIError
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.As(err, &ae) && ae.ErrorCode() == "KMSInvalidStateException":
					refused++
				default:
					t.Errorf("Encrypt during disconnect: %v", err)
				}
				n := refused
				mu.Unlock()
				if n >= 8 {
					return
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	e.disconnect(t, id)
	wg.Wait()
	close(stop)
	if ok == 0 || refused == 0 {
		t.Fatalf("%d encryptions succeeded and %d were refused; want both", ok, refused)
	}
	msg := md.Arn
	_, err = e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "KMSInvalidStateException", *msg+" is unavailable because its custom key store "+id+" is not connected.")
	_, err = e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	_, err = e.c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: md.KeyId, NumberOfBytes: aws.Int32(32)})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	// Management still works while disconnected.
	describe(t, e.c, *md.KeyId)
	_, err = e.c.DisconnectCustomKeyStore(ctx, &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreInvalidStateException", "Custom key store "+id+" is DISCONNECTED.")

	e.connect(t, id)
	dec, err := e.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, "Decrypt after reconnecting", err)
	if string(dec.Plaintext) != "before" {
		t.Fatalf("plaintext %q", dec.Plaintext)
	}
}

// TestHSMDisconnectedByAnotherNode: a node with a cache TTL (several nodes
// over one database) stops using its connection to a custom key store once
// another node has disconnected the store, as it does for a key disabled
// elsewhere. The other node's DisconnectCustomKeyStore is what this test
// writes into the store: the record's state, DISCONNECTED.
func TestHSMDisconnectedByAnotherNode(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t, func(c *server.Config) { c.CacheTTL = 100 * time.Millisecond })
	id := e.createStore(t, "hsm", mainCluster, e.anchor, softHSMPIN)
	e.connect(t, id)
	md := e.hsmKey(t, id)
	_, err := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("connected")})
	mustOK(t, "Encrypt", err)

	// With PostgreSQL the node's change listener confirms every 250 ms
	// that it has every announced change (store.ChangeSynced), which
	// keeps hot keys cached past cache_ttl. A custom key store's state
	// is not announced, so keys in one must keep the plain cache_ttl:
	// confirm continuously here, as a listener would.
	svc := e.srv.Service()
	stopSync := make(chan struct{})
	defer close(stopSync)
	go func() {
		for {
			svc.Invalidate(store.Change{Kind: store.ChangeSynced, Synced: time.Now()})
			select {
			case <-stopSync:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	other, err := embedded.Open(filepath.Join(e.dir, server.DatabaseFile))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.UpdateCustomKeyStore(ctx, "us-east-1", id, func(r *store.CustomKeyStore) error {
		r.ConnectionState = store.Disconnected
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "KMSInvalidStateException" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node still encrypts through a store another node disconnected: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHSMWrongPIN: a wrong KeyStorePassword makes the connection FAILED
// with INVALID_CREDENTIALS; Connect on a FAILED store is refused; after a
// disconnect and an UpdateCustomKeyStore with the right PIN it connects.
func TestHSMWrongPIN(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t)
	id := e.createStore(t, "hsm", mainCluster, e.anchor, "not-the-pin")
	ent := e.connect(t, id)
	if ent.ConnectionState != types.ConnectionStateTypeFailed || ent.ConnectionErrorCode != types.ConnectionErrorCodeTypeInvalidCredentials {
		t.Fatalf("connect with a wrong PIN: %s %s", ent.ConnectionState, ent.ConnectionErrorCode)
	}
	_, err := e.c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreInvalidStateException", "Custom key store "+id+" is FAILED.")
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(softHSMPIN)})
	wantAPIError(t, err, "CustomKeyStoreInvalidStateException", "Custom key store "+id+" is FAILED.")
	e.disconnect(t, id)
	if ent := e.storeEntry(t, id); ent.ConnectionState != types.ConnectionStateTypeDisconnected || ent.ConnectionErrorCode != "" {
		t.Fatalf("after disconnect: %+v", ent)
	}
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(softHSMPIN)})
	mustOK(t, "UpdateCustomKeyStore password", err)
	if ent := e.connect(t, id); ent.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("connect with the right PIN: %s %s", ent.ConnectionState, ent.ConnectionErrorCode)
	}
}

// TestHSMConnectionErrors: a token that is not there is CLUSTER_NOT_FOUND,
// a module that does not load NETWORK_ERRORS.
func TestHSMConnectionErrors(t *testing.T) {
	e := startHSM(t)
	for _, tc := range []struct{ cluster, code string }{
		{ghostCluster, "CLUSTER_NOT_FOUND"},
		{noModCluster, "NETWORK_ERRORS"},
	} {
		_, anchor := e.anchorOf(t, tc.cluster)
		id := e.createStore(t, tc.cluster, tc.cluster, anchor, softHSMPIN)
		ent := e.connect(t, id)
		if ent.ConnectionState != types.ConnectionStateTypeFailed || string(ent.ConnectionErrorCode) != tc.code {
			t.Errorf("%s: %s %s, want FAILED %s", tc.cluster, ent.ConnectionState, ent.ConnectionErrorCode, tc.code)
		}
		e.disconnect(t, id)
		_, err := e.c.DeleteCustomKeyStore(context.Background(), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		mustOK(t, "DeleteCustomKeyStore", err)
	}
}

// anchorOf reads the trust anchor a cluster is declared with.
func (e *hsmEnv) anchorOf(t *testing.T, cluster string) (string, string) {
	t.Helper()
	for _, c := range e.clusters {
		if c.ID == cluster {
			b, err := os.ReadFile(c.TrustAnchorFile)
			if err != nil {
				t.Fatal(err)
			}
			return c.TrustAnchorFile, string(b)
		}
	}
	t.Fatalf("cluster %s not declared", cluster)
	return "", ""
}

// TestHSMManagementErrors: every refusal of the six operations.
func TestHSMManagementErrors(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t, func(c *server.Config) { c.Quotas.CustomKeyStoresPerRegion = aws.Int(3) })
	_, otherAnchor := e.anchorOf(t, otherCluster)
	create := func(name, cluster, anchor string) error {
		_, err := e.c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name),
			CloudHsmClusterId: aws.String(cluster), TrustAnchorCertificate: aws.String(anchor), KeyStorePassword: aws.String(softHSMPIN)})
		return err
	}
	wantAPIError(t, create("a", "cluster-zzzzzzzzzzz", e.anchor), "CloudHsmClusterNotFoundException", "Cluster cluster-zzzzzzzzzzz was not found.")
	wantAPIError(t, create("a", mainCluster, otherAnchor), "IncorrectTrustAnchorException", "The trust anchor certificate is not the trust anchor of cluster "+mainCluster+".")
	wantAPIError(t, create("a", mainCluster, "not a certificate"), "IncorrectTrustAnchorException", "*")
	_, err := e.c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("a"),
		CloudHsmClusterId: aws.String(mainCluster), TrustAnchorCertificate: aws.String(e.anchor)})
	wantAPIError(t, err, "ValidationException", "KeyStorePassword is required for a custom key store of type AWS_CLOUDHSM.")
	_, err = e.c.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("a"),
		CloudHsmClusterId: aws.String(mainCluster), TrustAnchorCertificate: aws.String(e.anchor), KeyStorePassword: aws.String(softHSMPIN),
		XksProxyUriPath: aws.String("/kms/xks/v1")})
	wantAPIError(t, err, "ValidationException", "*")

	id := e.createStore(t, "first", mainCluster, e.anchor, softHSMPIN)
	wantAPIError(t, create("first", otherCluster, otherAnchor), "CustomKeyStoreNameInUseException", "Custom key store name first is already in use in this account.")
	wantAPIError(t, create("second", mainCluster, e.anchor), "CloudHsmClusterInUseException", "*")
	// A cluster with the same trust anchor shares the backup history.
	wantAPIError(t, create("second", relatedCluster, e.anchor), "CloudHsmClusterInUseException", "*")
	other := e.createStore(t, "other", otherCluster, otherAnchor, softHSMPIN)
	_, ghostAnchor := e.anchorOf(t, ghostCluster)
	_, noModAnchor := e.anchorOf(t, noModCluster)
	_ = e.createStore(t, "ghost", ghostCluster, ghostAnchor, softHSMPIN)
	wantAPIError(t, create("fourth", noModCluster, noModAnchor), "LimitExceededException", "You have reached the limit of 3 custom key stores in this account and Region.")

	// Describe: by id, by name, unknown ones, both, paging.
	_, err = e.c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "Custom key store cks-1234567890abcdef0 does not exist.")
	_, err = e.c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("nope")})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	_, err = e.c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("first"), CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "ValidationException", "*")
	byName, err := e.c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("other")})
	mustOK(t, "Describe by name", err)
	if len(byName.CustomKeyStores) != 1 || aws.ToString(byName.CustomKeyStores[0].CustomKeyStoreId) != other {
		t.Fatalf("by name: %+v", byName.CustomKeyStores)
	}
	var seen []string
	p := kms.NewDescribeCustomKeyStoresPaginator(e.c, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		mustOK(t, "Describe page", err)
		if len(page.CustomKeyStores) > 1 {
			t.Fatalf("page of %d", len(page.CustomKeyStores))
		}
		for _, s := range page.CustomKeyStores {
			seen = append(seen, aws.ToString(s.CustomKeyStoreId))
		}
	}
	if len(seen) != 3 {
		t.Fatalf("paged through %v", seen)
	}
	_, err = e.c.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{Marker: aws.String("!!")})
	wantAPIError(t, err, "InvalidMarkerException", "*")

	// Another account sees none of them.
	_, err = e.c.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String("cks-1234567890abcdef0")})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")

	// Update: names, clusters, state.
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("other")})
	wantAPIError(t, err, "CustomKeyStoreNameInUseException", "*")
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), CloudHsmClusterId: aws.String(otherCluster)})
	wantAPIError(t, err, "CloudHsmClusterNotRelatedException", "*")
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), CloudHsmClusterId: aws.String("cluster-zzzzzzzzzzz")})
	wantAPIError(t, err, "CloudHsmClusterNotFoundException", "*")
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), CloudHsmClusterId: aws.String(relatedCluster)})
	mustOK(t, "Update to a related cluster", err)
	if ent := e.storeEntry(t, id); aws.ToString(ent.CloudHsmClusterId) != relatedCluster {
		t.Fatalf("cluster after update: %s", aws.ToString(ent.CloudHsmClusterId))
	}
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), CloudHsmClusterId: aws.String(mainCluster)})
	mustOK(t, "Update back", err)

	e.connect(t, id)
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("another-pin")})
	wantAPIError(t, err, "CustomKeyStoreInvalidStateException", "Custom key store "+id+" is CONNECTED.")
	_, err = e.c.UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("renamed")})
	mustOK(t, "rename while connected", err)
	if ent := e.storeEntry(t, id); aws.ToString(ent.CustomKeyStoreName) != "renamed" {
		t.Fatalf("name after update: %s", aws.ToString(ent.CustomKeyStoreName))
	}

	// Delete: only disconnected, only without keys.
	_, err = e.c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreInvalidStateException", "Custom key store "+id+" is CONNECTED.")
	md := e.hsmKey(t, id)
	e.disconnect(t, id)
	_, err = e.c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreHasCMKsException", "*")
	_, err = e.c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion while disconnected", err)
	_, err = e.c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreHasCMKsException", "*") // a key pending deletion still counts
	_, err = e.c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(other)})
	mustOK(t, "DeleteCustomKeyStore", err)
	_, err = e.c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(other)})
	wantAPIError(t, err, "CustomKeyStoreNotFoundException", "*")
	// The quota counts the stores that exist.
	mustOK(t, "create after a delete", create("fourth", noModCluster, noModAnchor))
}

// TestHSMAuthorization: the six operations are IAM-policy-only actions
// on resource "*": a user without a policy is denied, one whose policy
// allows them is not.
func TestHSMAuthorization(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t)
	user := newUserKey(t, e.node, "hsm-admin")
	_, err := user.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{})
	wantAPIError(t, err, "AccessDeniedException", "*")
	if !strings.Contains(apiMessage(err), "kms:DescribeCustomKeyStores on resource: *") {
		t.Fatalf("message %q", apiMessage(err))
	}
	_, err = user.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("x"),
		CloudHsmClusterId: aws.String(mainCluster), TrustAnchorCertificate: aws.String(e.anchor), KeyStorePassword: aws.String(softHSMPIN)})
	wantAPIError(t, err, "AccessDeniedException", "*")
	putUserPolicy(t, e.node, "hsm-admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateCustomKeyStore","kms:DescribeCustomKeyStores"],"Resource":"*"}]}`)
	out, err := user.CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("x"),
		CloudHsmClusterId: aws.String(mainCluster), TrustAnchorCertificate: aws.String(e.anchor), KeyStorePassword: aws.String(softHSMPIN)})
	mustOK(t, "CreateCustomKeyStore with a policy", err)
	_, err = user.ConnectCustomKeyStore(ctx, &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
	wantAPIError(t, err, "AccessDeniedException", "*")
}

// TestHSMRestart: a CONNECTED store is connected again when the server
// restarts, without ConnectCustomKeyStore; a disconnected one stays
// disconnected.
func TestHSMRestart(t *testing.T) {
	ctx := context.Background()
	e := startHSM(t)
	id := e.createStore(t, "hsm", mainCluster, e.anchor, softHSMPIN)
	e.connect(t, id)
	md := e.hsmKey(t, id)
	enc, err := e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("survives")})
	mustOK(t, "Encrypt", err)
	e.stop()

	n := startNodeIn(t, e.dir, func(c *server.Config) { c.HSMClusters = e.clusters })
	c := n.client("us-east-1")
	e2 := &hsmEnv{node: n, c: c}
	if ent := e2.storeEntry(t, id); ent.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("after restart: %s", ent.ConnectionState)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, "Decrypt after restart", err)
	if string(dec.Plaintext) != "survives" {
		t.Fatalf("plaintext %q", dec.Plaintext)
	}
	_ = e2.hsmKey(t, id)
}

// TestHSMDeletionDestroysObject: deleting the key at the end of its
// waiting period destroys its object in the token.
func TestHSMDeletionDestroysObject(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	e := startHSM(t, func(c *server.Config) {
		c.Now = clk.Now
		c.DeletionInterval = time.Hour
	})
	id := e.createStore(t, "hsm", mainCluster, e.anchor, softHSMPIN)
	e.connect(t, id)
	doomed := e.hsmKey(t, id)
	kept := e.hsmKey(t, id)
	if found, _, _ := tokenObject(t, e.module, e.token, *doomed.KeyId); !found {
		t.Fatal("no key object before deletion")
	}
	_, err := e.c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion", err)
	_, err = e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: doomed.KeyId, Plaintext: []byte("x")})
	wantAPIError(t, err, "KMSInvalidStateException", "*")
	clk.Advance(7 * 24 * time.Hour)
	if n, err := e.srv.Service().DeleteExpiredKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredKeys = %d, %v", n, err)
	}
	if found, _, _ := tokenObject(t, e.module, e.token, *doomed.KeyId); found {
		t.Fatal("the key object is still in the token after the key was deleted")
	}
	if found, _, _ := tokenObject(t, e.module, e.token, *kept.KeyId); !found {
		t.Fatal("the other key's object is gone")
	}
	_, err = e.c.Encrypt(ctx, &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")})
	mustOK(t, "Encrypt with the other key", err)
	e.disconnect(t, id)
	_, err = e.c.DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	wantAPIError(t, err, "CustomKeyStoreHasCMKsException", "*")
}

func putUserPolicy(t *testing.T, n *node, user, doc string) {
	t.Helper()
	_, err := n.iamRoot().PutUserPolicy(context.Background(), &iam.PutUserPolicyInput{UserName: aws.String(user),
		PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
	mustNil(t, "PutUserPolicy", err)
}
