package hsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/store"
	"github.com/trent-kms/trent/internal/wire"
)

// Backend is the AWS_CLOUDHSM [kms.KeyStoreBackend] over the declared
// clusters.
type Backend struct {
	clusters map[string]*Cluster
}

var _ kms.KeyStoreBackend = (*Backend)(nil)

// New returns the backend of the clusters, which it checks (see
// [Cluster.Check]); ids must be unique.
func New(clusters []Cluster) (*Backend, error) {
	b := &Backend{clusters: map[string]*Cluster{}}
	var errs []error
	for i := range clusters {
		c := clusters[i]
		if err := c.Check(); err != nil {
			errs = append(errs, err)
			continue
		}
		if b.clusters[c.ID] != nil {
			errs = append(errs, fmt.Errorf("cluster %s is declared twice", c.ID))
			continue
		}
		b.clusters[c.ID] = &c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("hsm_clusters: %w", err)
	}
	return b, nil
}

// errNoSupport refuses AWS_CLOUDHSM key stores in a build without PKCS#11.
func errNoSupport() error {
	return wire.Errorf("UnsupportedOperationException",
		"This build of Trent has no HSM support: it was built without cgo (CGO_ENABLED=0). See docs/hsm.md.")
}

// The messages of these errors are inferred: the model documents the
// shapes, not their texts.
func errClusterNotFound(id string) error {
	return wire.Errorf("CloudHsmClusterNotFoundException", "Cluster %s was not found.", id)
}

func errClusterInUse(id string) error {
	return wire.Errorf("CloudHsmClusterInUseException",
		"Cluster %s is already associated with a custom key store in this account, or shares its trust anchor (backup history) with one.", id)
}

// Create checks a CreateCustomKeyStore request of type AWS_CLOUDHSM:
// CloudHsmClusterId names a declared cluster
// (CloudHsmClusterNotFoundException), TrustAnchorCertificate is that
// cluster's trust anchor (IncorrectTrustAnchorException), and no other
// store of the account uses the cluster or a cluster with the same trust
// anchor, which is how AWS tells clusters that share a backup history
// (CloudHsmClusterInUseException). It returns KeyStorePassword.
func (b *Backend) Create(ctx context.Context, rec *store.CustomKeyStore, in *wire.CreateCustomKeyStoreRequest, others []store.CustomKeyStore) ([]byte, error) {
	if !Supported {
		return nil, errNoSupport()
	}
	if in.XksProxyUriEndpoint != nil || in.XksProxyUriPath != nil || in.XksProxyVpcEndpointServiceName != nil ||
		in.XksProxyVpcEndpointServiceOwner != nil || in.XksProxyAuthenticationCredential != nil || in.XksProxyConnectivity != nil {
		// Shape inferred: these members are "valid only for" external
		// key stores (the model).
		return nil, &wire.Error{Code: "ValidationException", Message: "XksProxy parameters are valid only for custom key stores of type EXTERNAL_KEY_STORE."}
	}
	// "To create an CloudHSM key store, specify the CustomKeyStoreName,
	// CloudHsmClusterId, KeyStorePassword, and TrustAnchorCertificate"
	// (the model); the shape of the refusal is inferred.
	for _, m := range []struct {
		name string
		set  bool
	}{{"CloudHsmClusterId", in.CloudHsmClusterId != nil}, {"TrustAnchorCertificate", in.TrustAnchorCertificate != nil}, {"KeyStorePassword", in.KeyStorePassword != nil}} {
		if !m.set {
			return nil, &wire.Error{Code: "ValidationException", Message: m.name + " is required for a custom key store of type AWS_CLOUDHSM."}
		}
	}
	id := *in.CloudHsmClusterId
	cl := b.clusters[id]
	if cl == nil {
		return nil, errClusterNotFound(id)
	}
	der, err := parseAnchor([]byte(*in.TrustAnchorCertificate))
	if err != nil || !bytes.Equal(der, cl.anchor) {
		return nil, wire.Errorf("IncorrectTrustAnchorException", "The trust anchor certificate is not the trust anchor of cluster %s.", id)
	}
	if err := b.checkInUse(cl, others); err != nil {
		return nil, err
	}
	rec.CloudHsmClusterID = id
	rec.TrustAnchorCertificate = *in.TrustAnchorCertificate
	return []byte(*in.KeyStorePassword), nil
}

// checkInUse refuses a cluster that another store of the account uses,
// directly or through a cluster with the same trust anchor.
func (b *Backend) checkInUse(cl *Cluster, others []store.CustomKeyStore) error {
	for _, o := range others {
		if o.Type != store.TypeCloudHSM {
			continue
		}
		if o.CloudHsmClusterID == cl.ID {
			return errClusterInUse(cl.ID)
		}
		if oc := b.clusters[o.CloudHsmClusterID]; oc != nil && bytes.Equal(oc.anchor, cl.anchor) {
			return errClusterInUse(cl.ID)
		}
	}
	return nil
}

// Update applies an UpdateCustomKeyStore request to an AWS_CLOUDHSM
// store. KeyStorePassword and CloudHsmClusterId need the store
// DISCONNECTED ("To change this value, the CloudHSM key store must be
// disconnected", the model). A new cluster must be declared
// (CloudHsmClusterNotFoundException), related to the current one: the
// same trust anchor (CloudHsmClusterNotRelatedException), and not used by
// another store (CloudHsmClusterInUseException).
func (b *Backend) Update(ctx context.Context, rec *store.CustomKeyStore, in *wire.UpdateCustomKeyStoreRequest, others []store.CustomKeyStore) ([]byte, error) {
	if in.XksProxyUriEndpoint != nil || in.XksProxyUriPath != nil || in.XksProxyVpcEndpointServiceName != nil ||
		in.XksProxyVpcEndpointServiceOwner != nil || in.XksProxyAuthenticationCredential != nil || in.XksProxyConnectivity != nil {
		return nil, &wire.Error{Code: "ValidationException", Message: "XksProxy parameters are valid only for custom key stores of type EXTERNAL_KEY_STORE."}
	}
	if in.KeyStorePassword == nil && in.CloudHsmClusterId == nil {
		return nil, nil
	}
	if rec.ConnectionState != store.Disconnected {
		return nil, kms.ErrKeyStoreInvalidState
	}
	if id := in.CloudHsmClusterId; id != nil && *id != rec.CloudHsmClusterID {
		cl := b.clusters[*id]
		if cl == nil {
			return nil, errClusterNotFound(*id)
		}
		cur, err := parseAnchor([]byte(rec.TrustAnchorCertificate))
		if err != nil || !bytes.Equal(cur, cl.anchor) {
			return nil, wire.Errorf("CloudHsmClusterNotRelatedException",
				"Cluster %s has a different cluster certificate than cluster %s.", *id, rec.CloudHsmClusterID)
		}
		if err := b.checkInUse(cl, others); err != nil {
			return nil, err
		}
		rec.CloudHsmClusterID = *id
	}
	if in.KeyStorePassword != nil {
		return []byte(*in.KeyStorePassword), nil
	}
	return nil, nil
}

// Connect logs in to the cluster's token with the store's password (the
// token user's PIN).
func (b *Backend) Connect(ctx context.Context, rec store.CustomKeyStore, secret []byte) (kms.KeyStoreConn, error) {
	cl := b.clusters[rec.CloudHsmClusterID]
	if cl == nil {
		return nil, &kms.ConnectError{Code: "CLUSTER_NOT_FOUND", Err: fmt.Errorf("cluster %s is not declared in the config file", rec.CloudHsmClusterID)}
	}
	return connect(ctx, cl, rec, secret)
}
