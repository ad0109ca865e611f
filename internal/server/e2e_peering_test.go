package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	tkms "github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/peer"
	"github.com/trent-kms/trent/internal/server"
	"github.com/trent-kms/trent/internal/wire"
)

// peerCA is a test peering CA that issues deployment certificates.
type peerCA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPeerCA(t *testing.T) *peerCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trent peering test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &peerCA{dir: t.TempDir(), cert: cert, key: key}
	writePEM(t, filepath.Join(ca.dir, "ca.crt"), "CERTIFICATE", der)
	return ca
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a certificate for the deployment name (a DNS name, and
// 127.0.0.1 for the loopback URL) and returns its cert and key paths.
func (ca *peerCA) issue(t *testing.T, name string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{name}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cp, kp := filepath.Join(ca.dir, name+".crt"), filepath.Join(ca.dir, name+".key")
	writePEM(t, cp, "CERTIFICATE", der)
	writePEM(t, kp, "PRIVATE KEY", kder)
	return cp, kp
}

// TestMultiRegionKeyAcrossDeployments runs two deployments, each with its
// own store and root key: dc1 serves us-east-1 and us-west-2, dc2 serves
// eu-west-1, linked by mutual TLS on loopback. A primary in dc1 is
// replicated into dc2, and rotation, replication, primary changes and a
// replica's deletion reach the other deployment.
func TestMultiRegionKeyAcrossDeployments(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	ca := newPeerCA(t)
	c1, k1 := ca.issue(t, "dc1")
	c2, k2 := ca.issue(t, "dc2")
	a1, a2 := freeAddr(t), freeAddr(t)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	start := func(regions []string, listen, cert, key, peerName, peerAddr string, peerRegions []string) *node {
		return startNodeIn(t, privateDir(t), func(c *server.Config) {
			c.Now = clk.Now
			c.DeletionInterval, c.RotationInterval = time.Hour, time.Hour
			c.Regions = regions
			c.Peering = &server.PeeringConfig{Listen: listen, CertFile: cert, KeyFile: key, CAFile: filepath.Join(ca.dir, "ca.crt"),
				Peers: []server.PeerConfig{{Name: peerName, URL: "https://" + peerAddr, Regions: peerRegions}}}
		})
	}
	dc1 := start([]string{"us-east-1", "us-west-2"}, a1, c1, k1, "dc2", a2, []string{"eu-west-1"})
	dc2 := start([]string{"eu-west-1"}, a2, c2, k2, "dc1", a1, []string{"us-east-1", "us-west-2"})
	ctx := context.Background()
	east, west, eu := dc1.client("us-east-1"), dc1.client("us-west-2"), dc2.client("eu-west-1")

	// dc1 does not serve eu-west-1 itself.
	_, err := dc1.client("eu-west-1").ListKeys(ctx, &kms.ListKeysInput{})
	wantAPIError(t, err, "*", "*")

	md := newMRK(t, east, nil)
	id := *md.KeyId
	ct := encryptAs(t, east, id, "from dc1")
	out := replicate(t, east, id, "eu-west-1")
	if out.ReplicaKeyMetadata.KeyState != types.KeyStateCreating || *out.ReplicaKeyMetadata.Arn != arnOf("eu-west-1", id) {
		t.Fatalf("ReplicateKey across deployments = %s %s", out.ReplicaKeyMetadata.KeyState, *out.ReplicaKeyMetadata.Arn)
	}
	r := describe(t, eu, id)
	if r.KeyState != types.KeyStateEnabled || *r.CurrentKeyMaterialId != *md.CurrentKeyMaterialId {
		t.Fatalf("replica in dc2: %s, material %s", r.KeyState, *r.CurrentKeyMaterialId)
	}
	wantConfig(t, r, types.MultiRegionKeyTypeReplica, "us-east-1", "eu-west-1")
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypePrimary, "us-east-1", "eu-west-1")
	decryptMaterial(t, eu, ct, "from dc1")
	decryptMaterial(t, east, encryptAs(t, eu, id, "from dc2"), "from dc2")
	_, err = east.ReplicateKey(ctx, &kms.ReplicateKeyInput{KeyId: &id, ReplicaRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "AlreadyExistsException", "Unable to replicate key "+id+" to region eu-west-1, as the key already exist there")

	// Rotation of the primary reaches the replica in dc2.
	mustOK(t, "RotateKeyOnDemand", second(east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})))
	m1 := *describe(t, east, id).CurrentKeyMaterialId
	if got := *describe(t, eu, id).CurrentKeyMaterialId; got != m1 {
		t.Fatalf("replica in dc2 uses %s after the rotation, want %s", got, m1)
	}
	if got := decryptMaterial(t, eu, encryptAs(t, east, id, "rotated"), "rotated"); got != m1 {
		t.Errorf("decrypted in dc2 with %s, want %s", got, m1)
	}
	mustOK(t, "EnableKeyRotation", second(east.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: &id})))
	if st, err := eu.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: &id}); err != nil || !st.KeyRotationEnabled {
		t.Fatalf("rotation status in dc2: %v, %v", st, err)
	}

	// A replica in dc1's other region, then the primary moves there: dc2's
	// replica learns both.
	replicate(t, east, id, "us-west-2")
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypeReplica, "us-east-1", "eu-west-1", "us-west-2")
	mustOK(t, "UpdatePrimaryRegion", second(east.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("us-west-2")})))
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypeReplica, "us-west-2", "eu-west-1", "us-east-1")
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypePrimary, "us-west-2", "eu-west-1", "us-east-1")
	// The primary moves into dc2: dc2 checks its replica's state and key
	// policy, then rotates the set itself; and back again.
	mustOK(t, "DisableKey in dc2", second(eu.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id})))
	_, err = west.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "DisabledException", arnOf("eu-west-1", id)+" is disabled.")
	mustOK(t, "EnableKey in dc2", second(eu.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id})))
	// dc2 enforces its replica's key policy for the caller dc1 authenticated.
	root := "arn:aws:iam::" + testAccount + ":root"
	deny := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"all","Effect":"Allow","Principal":{"AWS":"` + root + `"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"stay","Effect":"Deny","Principal":{"AWS":"` + root + `"},"Action":"kms:UpdatePrimaryRegion","Resource":"*"}]}`
	mustOK(t, "PutKeyPolicy in dc2", second(eu.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &id, Policy: &deny})))
	_, err = west.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("eu-west-1")})
	wantAPIError(t, err, "AccessDeniedException",
		"User: "+root+" is not authorized to perform: kms:UpdatePrimaryRegion on resource: "+arnOf("eu-west-1", id)+" with an explicit deny in a resource-based policy")
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypePrimary, "us-west-2", "eu-west-1", "us-east-1")
	mustOK(t, "PutKeyPolicy in dc2", second(eu.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: &id, Policy: aws.String(tkms.DefaultKeyPolicy("aws", testAccount))})))
	mustOK(t, "UpdatePrimaryRegion into dc2", second(west.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("eu-west-1")})))
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypePrimary, "eu-west-1", "us-east-1", "us-west-2")
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypeReplica, "eu-west-1", "us-east-1", "us-west-2")
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypeReplica, "eu-west-1", "us-east-1", "us-west-2")
	_, err = west.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "UnsupportedOperationException", "*")
	mustOK(t, "RotateKeyOnDemand in dc2", second(eu.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})))
	m2 := *describe(t, eu, id).CurrentKeyMaterialId
	if m2 == m1 || *describe(t, east, id).CurrentKeyMaterialId != m2 || *describe(t, west, id).CurrentKeyMaterialId != m2 {
		t.Fatal("a rotation of the primary in dc2 did not reach dc1's replicas")
	}
	decryptMaterial(t, east, encryptAs(t, eu, id, "rotated in dc2"), "rotated in dc2")
	mustOK(t, "UpdatePrimaryRegion back into dc1", second(eu.UpdatePrimaryRegion(ctx, &kms.UpdatePrimaryRegionInput{KeyId: &id, PrimaryRegion: aws.String("us-west-2")})))
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypePrimary, "us-west-2", "us-east-1", "eu-west-1")
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypeReplica, "us-west-2", "us-east-1", "eu-west-1")

	// The replica in dc2 is deleted: dc1's keys stop listing it.
	_, err = eu.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion in dc2", err)
	clk.Advance(8 * 24 * time.Hour)
	if n, err := dc2.srv.Service().DeleteExpiredKeys(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredKeys in dc2 = %d, %v", n, err)
	}
	wantConfig(t, describe(t, west, id), types.MultiRegionKeyTypePrimary, "us-west-2", "us-east-1")
	wantConfig(t, describe(t, east, id), types.MultiRegionKeyTypeReplica, "us-west-2", "us-east-1")
	// And it can be made again from the new primary.
	replicate(t, west, id, "eu-west-1")
	decryptMaterial(t, eu, ct, "from dc1")
}

// TestPeeringRefusesStrangers: the peering listener answers only clients
// with a certificate of the peering CA that names a configured peer, and
// a peer may change only sets it takes part in.
func TestPeeringRefusesStrangers(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	ca := newPeerCA(t)
	c2, k2 := ca.issue(t, "dc2")
	a2 := freeAddr(t)
	dc2 := startNodeIn(t, privateDir(t), func(c *server.Config) {
		c.Regions = []string{"eu-west-1"}
		c.Peering = &server.PeeringConfig{Listen: a2, CertFile: c2, KeyFile: k2, CAFile: filepath.Join(ca.dir, "ca.crt"),
			Peers: []server.PeerConfig{{Name: "dc1", URL: "https://127.0.0.1:1", Regions: []string{"us-east-1"}}}}
	})
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	get := func(certs []tls.Certificate) (*http.Response, error) {
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
		return cl.Get("https://" + dc2.srv.PeeringAddr() + "/peer/v1/wrapping-key")
	}
	if resp, err := get(nil); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s", resp.Status)
	}
	c3, k3 := ca.issue(t, "dc3")
	cert3, err := tls.LoadX509KeyPair(c3, k3)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := get([]tls.Certificate{cert3})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an unknown peer got %s, want 403", resp.Status)
	}

	// dc1, a configured peer, may not create a key of a set whose primary
	// it does not serve.
	c1, k1 := ca.issue(t, "dc1")
	cert1, err := tls.LoadX509KeyPair(c1, k1)
	if err != nil {
		t.Fatal(err)
	}
	link, err := peer.New(peer.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert1}, RootCAs: pool, ClientCAs: pool},
		Peers: []peer.Peer{{Name: "dc2", URL: "https://" + dc2.srv.PeeringAddr(), Regions: []string{"eu-west-1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := "mrk-0123456789abcdef0123456789abcdef"
	raw := make([]byte, 32)
	err = link.Send(context.Background(), &tkms.MemberChange{Region: "eu-west-1", KeyID: id, AccountID: testAccount,
		Create:    &tkms.MemberCreate{KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS", KeyManager: "CUSTOMER", Policy: "{}"},
		Config:    &tkms.MemberConfig{Primary: "ap-south-1", Replicas: []string{"eu-west-1"}},
		Materials: []tkms.MemberMaterial{{ID: "00" + id[4:] + id[4:], Raw: raw}}})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != "AccessDeniedException" {
		t.Fatalf("a change for a set dc1 takes no part in = %v, want AccessDeniedException", err)
	}
	_, err = dc2.client("eu-west-1").DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "*")
	// Nor a key in an account dc2 does not have.
	err = link.Send(context.Background(), &tkms.MemberChange{Region: "eu-west-1", KeyID: id, AccountID: "444455556666",
		Create: &tkms.MemberCreate{KeySpec: "SYMMETRIC_DEFAULT", KeyUsage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS", KeyManager: "CUSTOMER", Policy: "{}"},
		Config: &tkms.MemberConfig{Primary: "us-east-1", Replicas: []string{"eu-west-1"}}})
	if !errors.As(err, &we) || we.Code != "NotFoundException" || we.Message != "Account 444455556666 does not exist in the deployment that serves eu-west-1." {
		t.Fatalf("a replica in an account dc2 does not have = %v", err)
	}
}

func TestPeeringConfig(t *testing.T) {
	cfg, err := server.LoadConfig(writeConfig(t, `version: 1
listen: 127.0.0.1:9400
data_dir: /var/lib/trent
regions: [us-east-1, us-west-2]
peering:
  listen: 0.0.0.0:9444
  cert_file: /etc/trent/peer.crt
  key_file: /etc/trent/peer.key
  ca_file: /etc/trent/peer-ca.crt
  peers:
    - name: dc2.example.net
      url: https://dc2.example.net:9444
      regions: [eu-west-1, eu-central-1]
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if p := cfg.Peering; p == nil || len(p.Peers) != 1 || p.Peers[0].Regions[1] != "eu-central-1" {
		t.Fatalf("peering: %+v", cfg.Peering)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"overlap", "regions: [us-east-1]\npeering: {listen: ':9444', cert_file: a, key_file: b, ca_file: c, peers: [{name: p, url: 'https://p:1', regions: [us-east-1]}]}",
			"region us-east-1 is served by this deployment already"},
		{"no regions", "peering: {listen: ':9444', cert_file: a, key_file: b, ca_file: c, peers: [{name: p, url: 'https://p:1', regions: [eu-west-1]}]}",
			"set regions to the regions this deployment serves"},
		{"no tls", "regions: [us-east-1]\npeering: {listen: ':9444', peers: [{name: p, url: 'http://p:1', regions: [eu-west-1]}]}",
			"cert_file, key_file and ca_file are required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := server.LoadConfig(writeConfig(t, "version: 1\nlisten: 127.0.0.1:9400\ndata_dir: /var/lib/trent\n"+tc.text+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Defaults()
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestPeerRestart: a peer that restarts draws a new wrapping key; the next
// change sealed to its old key is refused with WrappingKeyChanged, and the
// sender fetches the new key and sends it again. While the peer is down, a
// rotation of a set with a replica there fails rather than leave the
// replica without the new material, and configuration changes it misses
// (a new replica, the deletion of its own replica) are repaired by
// SyncMultiRegionKeys.
func TestPeerRestart(t *testing.T) {
	t.Setenv("TRENT_ROOT_ACCESS_KEY_ID", testAccessKeyID)
	t.Setenv("TRENT_ROOT_SECRET_ACCESS_KEY", testSecret)
	ca := newPeerCA(t)
	c1, k1 := ca.issue(t, "dc1")
	c2, k2 := ca.issue(t, "dc2")
	a1, a2 := freeAddr(t), freeAddr(t)
	clk := &testClock{t: time.Now().UTC().Truncate(time.Millisecond)}
	opts := func(regions []string, listen, cert, key, peerName, peerAddr string, peerRegions []string) func(*server.Config) {
		return func(c *server.Config) {
			c.Now = clk.Now
			c.DeletionInterval, c.RotationInterval = time.Hour, time.Hour
			c.Regions = regions
			c.Peering = &server.PeeringConfig{Listen: listen, CertFile: cert, KeyFile: key, CAFile: filepath.Join(ca.dir, "ca.crt"),
				Peers: []server.PeerConfig{{Name: peerName, URL: "https://" + peerAddr, Regions: peerRegions}}, SyncInterval: time.Hour}
		}
	}
	dir1, dir2 := privateDir(t), privateDir(t)
	o1 := opts([]string{"us-east-1", "us-west-2"}, a1, c1, k1, "dc2", a2, []string{"eu-west-1"})
	o2 := opts([]string{"eu-west-1"}, a2, c2, k2, "dc1", a1, []string{"us-east-1", "us-west-2"})
	dc1, dc2 := startNodeIn(t, dir1, o1), startNodeIn(t, dir2, o2)
	ctx := context.Background()
	east := dc1.client("us-east-1")
	id := *newMRK(t, east, nil).KeyId
	replicate(t, east, id, "eu-west-1")
	describe(t, dc2.client("eu-west-1"), id)

	dc2.stop()
	_, err := east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})
	wantAPIError(t, err, "KMSInternalException", "*")
	md := describe(t, east, id)
	if rs := listRotations(t, east, &kms.ListKeyRotationsInput{KeyId: &id}); len(rs) != 0 {
		t.Fatalf("the primary rotated while its replica was unreachable: %+v", rs)
	}
	// A replica in dc1's other region is made while dc2 is down.
	replicate(t, east, id, "us-west-2")

	dc2 = startNodeIn(t, dir2, o2)
	eu := dc2.client("eu-west-1")
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypeReplica, "us-east-1", "eu-west-1")
	if n, err := dc1.srv.Service().SyncMultiRegionKeys(ctx); err != nil || n != 2 {
		t.Fatalf("SyncMultiRegionKeys = %d, %v", n, err)
	}
	wantConfig(t, describe(t, eu, id), types.MultiRegionKeyTypeReplica, "us-east-1", "eu-west-1", "us-west-2")
	mustOK(t, "RotateKeyOnDemand", second(east.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: &id})))
	m1 := *describe(t, east, id).CurrentKeyMaterialId
	if m1 == *md.CurrentKeyMaterialId || *describe(t, eu, id).CurrentKeyMaterialId != m1 {
		t.Fatal("the rotation after the peer's restart did not reach it")
	}
	decryptMaterial(t, eu, encryptAs(t, east, id, "after restart"), "after restart")

	// dc2 deletes its replica while dc1 is down: dc1 learns it from its
	// next sync, and the primary, waiting for its replicas, starts its
	// own waiting period once they are all gone.
	_, err = east.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion primary", err)
	_, err = dc1.client("us-west-2").ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion us-west-2", err)
	_, err = eu.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, "ScheduleKeyDeletion eu-west-1", err)
	clk.Advance(8 * 24 * time.Hour)
	dc1.stop()
	if n, err := dc2.srv.Service().DeleteExpiredKeys(ctx); n != 1 || err == nil {
		t.Fatalf("DeleteExpiredKeys in dc2 with dc1 down = %d, %v; want 1 and the error of telling dc1", n, err)
	}
	dc1 = startNodeIn(t, dir1, o1)
	east = dc1.client("us-east-1")
	// The deleter and the sync also run once as the node starts; running
	// them again is harmless.
	if _, err := dc1.srv.Service().DeleteExpiredKeys(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = dc1.client("us-west-2").DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id})
	wantAPIError(t, err, "NotFoundException", "*")
	if _, err := dc1.srv.Service().SyncMultiRegionKeys(ctx); err != nil {
		t.Fatal(err)
	}
	p := describe(t, east, id)
	if p.KeyState != types.KeyStatePendingDeletion || p.DeletionDate == nil || !p.DeletionDate.Equal(clk.Now().Add(7*24*time.Hour)) {
		t.Fatalf("primary after the sync: %s, %v", p.KeyState, p.DeletionDate)
	}
	wantConfig(t, p, types.MultiRegionKeyTypePrimary, "us-east-1")
}
