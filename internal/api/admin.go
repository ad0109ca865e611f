package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

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
const adminPrefix = "TrentAdmin."

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
	if h.iam == nil || r.Method != http.MethodPost || (target != adminPrefix+"CreateAccount" && target != adminPrefix+"ListAccounts") {
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
	kc, err := h.authenticate(ctx, r, body)
	if err != nil {
		h.writeError(w, reqID, target, err)
		return
	}
	c := callerOf(kc)
	var out any
	switch target {
	case adminPrefix + "CreateAccount":
		var in createAccountRequest
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				h.writeError(w, reqID, target, wire.Errorf("SerializationException", "Malformed request body."))
				return
			}
		}
		cr, err := h.iam.CreateAccount(ctx, c, in.AccountId)
		if err != nil {
			h.writeError(w, reqID, target, &sourcedError{err: err, accessKeyID: kc.AccessKeyID, remoteAddr: r.RemoteAddr})
			return
		}
		out = createAccountResponse{AccountId: cr.AccountID, AccessKeyId: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey}
	default:
		accts, err := h.iam.ListAccounts(ctx, c)
		if err != nil {
			h.writeError(w, reqID, target, &sourcedError{err: err, accessKeyID: kc.AccessKeyID, remoteAddr: r.RemoteAddr})
			return
		}
		l := listAccountsResponse{Accounts: []accountEntry{}}
		for _, a := range accts {
			l.Accounts = append(l.Accounts, accountEntry{AccountId: a.ID, CreationDate: float64(a.CreatedAt.UnixMilli()) / 1000})
		}
		out = l
	}
	h.writeJSON(w, http.StatusOK, out)
	h.log.Debug("request", "request_id", reqID, "operation", target, "access_key_id", kc.AccessKeyID, "status", http.StatusOK)
}
