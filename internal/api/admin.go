package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

// Trent's account administration API. It is not an AWS API: awsJson 1.1
// with the target prefix "TrentAdmin." on the "kms" signing name, so any
// SigV4 signer can call it (cmd/trent's "accounts" subcommand does). Only
// the management account's root may call it. Errors use the awsJson shape
// of KMS. See docs/identities.md.
//
//	TrentAdmin.CreateAccount  {"AccountId":"444455556666"}
//	  -> {"AccountId":"444455556666","AccessKeyId":"AKIA...","SecretAccessKey":"..."}
//	TrentAdmin.ListAccounts   {}
//	  -> {"Accounts":[{"AccountId":"111122223333","CreationDate":1700000000}]}
//	TrentAdmin.CreateAWSManagedKey {"Service":"s3"[,"AccountId":"444455556666"]}
//	  -> {"AliasName":"alias/aws/s3","Created":true,"KeyMetadata":{...}}
//
// CreateAWSManagedKey is the one admin call an account's own root may
// make (for its account); the management account's root may name any
// account. The key is created in the signature's region. See
// docs/authorization.md#aws-managed-keys.
const adminPrefix = "TrentAdmin."

// adminTargets are the TrentAdmin operations.
var adminTargets = map[string]bool{
	adminPrefix + "CreateAccount": true, adminPrefix + "ListAccounts": true, adminPrefix + "CreateAWSManagedKey": true,
}

type createAWSManagedKeyRequest struct {
	Service   string
	AccountId string
}

type createAWSManagedKeyResponse struct {
	AliasName   string
	Created     bool
	KeyMetadata *wire.KeyMetadata
}

type createAccountRequest struct {
	AccountId string
}

type createAccountResponse struct {
	AccountId       string
	AccessKeyId     string
	SecretAccessKey string
}

type accountEntry struct {
	AccountId    string
	CreationDate float64 // seconds since the epoch, as KMS dates
}

type listAccountsResponse struct {
	Accounts []accountEntry
}

func (h *Handler) serveAdmin(w http.ResponseWriter, r *http.Request, reqID, target string) {
	query := adminQueryTargets[target]
	if h.iam == nil || r.Method != http.MethodPost || !adminTargets[target] && !query {
		h.writeError(w, reqID, target, &wire.Error{Code: "UnknownOperationException"})
		return
	}
	body, err := readAll(w, r, smallBody)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.writeError(w, reqID, target, errTooLarge(smallBody))
		}
		return
	}
	if len(body) > 0 && !isAWSJSON(r.Header.Get("Content-Type")) {
		h.writeJSON(w, http.StatusNotFound, errorBody{Type: "UnknownOperationException"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	start := time.Now()
	name := strings.TrimPrefix(target, adminPrefix)
	var (
		kc     *kms.Caller
		out    any
		params json.RawMessage
	)
	if query { // adminquery.go
		kc, out, params, err = h.adminQuery(ctx, r, target, body)
	} else {
		kc, out, err = h.admin(ctx, r, target, body)
	}
	if err != nil && kc != nil {
		err = &sourcedError{err: err, accessKeyID: kc.AccessKeyID, remoteAddr: r.RemoteAddr}
	}
	// The audit record (source "trent", not an AWS service) never holds
	// the new root secret: no response elements are recorded.
	if target == adminPrefix+"CreateAccount" && err == nil {
		params, _ = json.Marshal(map[string]string{"accountId": out.(createAccountResponse).AccountId})
	}
	if target == adminPrefix+"CreateAWSManagedKey" && err == nil {
		mk := out.(createAWSManagedKeyResponse)
		params, _ = json.Marshal(map[string]string{"aliasName": mk.AliasName, "keyId": wire.Value(mk.KeyMetadata.Arn)})
	}
	if aerr := h.recordCall(r, reqID, start, kc, auditSourceAdmin, name, name == "ListAccounts" || query, params, nil, nil, err); aerr != nil {
		h.writeError(w, reqID, target, aerr)
		return
	}
	if err != nil {
		h.writeError(w, reqID, target, err)
		return
	}
	h.writeJSON(w, http.StatusOK, out)
}

// auditSourceAdmin is the eventSource of Trent's own account
// administration calls in the audit trail.
const auditSourceAdmin = "trent.admin"

// admin authenticates and performs one TrentAdmin call. kc is nil when
// authentication failed.
func (h *Handler) admin(ctx context.Context, r *http.Request, target string, body []byte) (*kms.Caller, any, error) {
	kc, err := h.authenticate(ctx, r, body)
	if err != nil {
		return nil, nil, err
	}
	c := callerOf(kc)
	switch target {
	case adminPrefix + "CreateAccount":
		var in createAccountRequest
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				return kc, nil, wire.Errorf("SerializationException", "Malformed request body.")
			}
		}
		cr, err := h.iam.CreateAccount(ctx, c, in.AccountId)
		if err != nil {
			return kc, nil, err
		}
		return kc, createAccountResponse{AccountId: cr.AccountID, AccessKeyId: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey}, nil
	case adminPrefix + "CreateAWSManagedKey":
		var in createAWSManagedKeyRequest
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				return kc, nil, wire.Errorf("SerializationException", "Malformed request body.")
			}
		}
		operator := kc.AccountID == h.iam.ManagementAccount()
		mk, err := h.svc.CreateAWSManagedKey(ctx, kc, in.Service, in.AccountId, operator)
		if err != nil {
			return kc, nil, err
		}
		return kc, createAWSManagedKeyResponse{AliasName: mk.AliasName, Created: mk.Created, KeyMetadata: mk.KeyMetadata}, nil
	default:
		accts, err := h.iam.ListAccounts(ctx, c)
		if err != nil {
			return kc, nil, err
		}
		l := listAccountsResponse{Accounts: []accountEntry{}}
		for _, a := range accts {
			l.Accounts = append(l.Accounts, accountEntry{AccountId: a.ID, CreationDate: float64(a.CreatedAt.UnixMilli()) / 1000})
		}
		return kc, l, nil
	}
}
