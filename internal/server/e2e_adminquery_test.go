package server_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// adminCall sends a signed TrentAdmin request and returns the HTTP status
// and the decoded JSON answer.
func adminCall(t *testing.T, n *node, akid, secret, op string, in any) (int, map[string]any) {
	t.Helper()
	body, ok := in.(string)
	if !ok {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	resp := signedPostAs(t, n, akid, secret, "TrentAdmin."+op, body)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: answer %q is not JSON: %v", op, raw, err)
	}
	return resp.StatusCode, out
}

// wantAdminError checks an awsJson error answer: HTTP 400, the code, and
// a message that contains msg.
func wantAdminError(t *testing.T, status int, out map[string]any, code, msg string) {
	t.Helper()
	if status != 400 || out["__type"] != code || !strings.Contains(out["message"].(string), msg) {
		t.Fatalf("answer %d %v, want 400 %s containing %q", status, out, code, msg)
	}
}

type adminRecord struct {
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	ErrorCode    string `json:"errorCode"`
	RequestID    string `json:"requestID"`
	UserIdentity struct {
		AccountID string `json:"accountId"`
		ARN       string `json:"arn"`
	} `json:"userIdentity"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
}

// records returns the Records of a SearchAudit answer.
func records(t *testing.T, out map[string]any) []adminRecord {
	t.Helper()
	b, _ := json.Marshal(out["Records"])
	var rs []adminRecord
	if err := json.Unmarshal(b, &rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestAdminQueries exercises TrentAdmin.SearchAudit, GetRequestCounts and
// GetUsageReport through signed requests: authorization through identity
// policies, account isolation, paging, bad input, the calls' own audit
// records, and that no secret reaches an answer.
func TestAdminQueries(t *testing.T) {
	ctx := context.Background()
	n := startNode(t)
	kc := n.client("us-east-1")
	ic := n.iamRoot()

	// Account B, with a key and one request.
	status, acct := adminCall(t, n, testAccessKeyID, testSecret, "CreateAccount", `{"AccountId":"444455556666"}`)
	if status != 200 {
		t.Fatalf("CreateAccount: %d %v", status, acct)
	}
	bID, bSecret := acct["AccessKeyId"].(string), acct["SecretAccessKey"].(string)
	bc := n.clientWith("us-east-1", bID, bSecret)
	bk, err := bc.CreateKey(ctx, &kms.CreateKeyInput{})
	mustNil(t, "CreateKey B", err)
	_, err = bc.Encrypt(ctx, &kms.EncryptInput{KeyId: bk.KeyMetadata.KeyId, Plaintext: []byte("b's secret plaintext")})
	mustNil(t, "Encrypt B", err)

	// Account A: a key, three Encrypts, two Decrypts and one failed Decrypt.
	k, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	mustNil(t, "CreateKey", err)
	keyID, keyARN := *k.KeyMetadata.KeyId, *k.KeyMetadata.Arn
	const plaintext = "top secret plaintext 1234"
	var blob []byte
	for range 3 {
		e, err := kc.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte(plaintext)})
		mustNil(t, "Encrypt", err)
		blob = e.CiphertextBlob
	}
	for range 2 {
		_, err := kc.Decrypt(ctx, &kms.DecryptInput{KeyId: &keyID, CiphertextBlob: blob})
		mustNil(t, "Decrypt", err)
	}
	bad := append([]byte{}, blob...)
	bad[len(bad)-1] ^= 1
	_, err = kc.Decrypt(ctx, &kms.DecryptInput{KeyId: &keyID, CiphertextBlob: bad})
	wantAPIError(t, err, "InvalidCiphertextException", "*")

	// An auditor allowed the trent: actions, and a user allowed only kms:*.
	user := func(name, policy string) (string, string) {
		t.Helper()
		_, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
		mustNil(t, "CreateUser "+name, err)
		_, err = ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policy)})
		mustNil(t, "PutUserPolicy "+name, err)
		ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		mustNil(t, "CreateAccessKey "+name, err)
		return *ak.AccessKey.AccessKeyId, *ak.AccessKey.SecretAccessKey
	}
	audID, audSecret := user("auditor", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["trent:SearchAudit","trent:GetRequestCounts","trent:GetUsageReport"],"Resource":"*"}]}`)
	plainID, plainSecret := user("plain", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)

	t.Run("search/by-key-and-operation", func(t *testing.T) {
		status, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"KeyId": keyID, "Operation": "Encrypt"})
		rs := records(t, out)
		if status != 200 || len(rs) != 3 || out["Truncated"] != false {
			t.Fatalf("SearchAudit = %d %v", status, out)
		}
		for _, r := range rs {
			if r.EventName != "Encrypt" || r.UserIdentity.AccountID != testAccount || len(r.Resources) == 0 || r.Resources[0].ARN != keyARN {
				t.Errorf("record %+v", r)
			}
		}
	})
	t.Run("search/paging", func(t *testing.T) {
		seen := map[string]bool{}
		in := map[string]any{"KeyId": keyID, "Operation": "Encrypt", "Limit": 2}
		status, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", in)
		if rs := records(t, out); status != 200 || len(rs) != 2 || out["Truncated"] != true || out["NextMarker"] == nil {
			t.Fatalf("page 1 = %d %v", status, out)
		} else {
			for _, r := range rs {
				seen[r.RequestID] = true
			}
		}
		in["Marker"] = out["NextMarker"]
		status, out = adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", in)
		rs := records(t, out)
		if status != 200 || len(rs) != 1 || out["Truncated"] != false || out["NextMarker"] != nil {
			t.Fatalf("page 2 = %d %v", status, out)
		}
		seen[rs[0].RequestID] = true
		if len(seen) != 3 {
			t.Fatalf("the pages hold %d distinct records, want 3", len(seen))
		}
	})
	t.Run("search/newest-first", func(t *testing.T) {
		_, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"KeyId": keyID})
		rs := records(t, out)
		if len(rs) < 7 || rs[0].EventName != "Decrypt" || rs[0].ErrorCode != "InvalidCiphertextException" || rs[len(rs)-1].EventName != "CreateKey" {
			t.Fatalf("records of the key, newest first: %+v", rs)
		}
	})
	t.Run("search/by-outcome", func(t *testing.T) {
		_, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"Outcome": "failed", "Operation": "Decrypt"})
		rs := records(t, out)
		if len(rs) != 1 || rs[0].ErrorCode != "InvalidCiphertextException" {
			t.Fatalf("failed Decrypts = %+v", rs)
		}
	})
	t.Run("search/time-range", func(t *testing.T) {
		future := float64(time.Now().Add(time.Hour).Unix())
		_, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"StartTime": future})
		if rs := records(t, out); len(rs) != 0 {
			t.Fatalf("records after an hour from now: %+v", rs)
		}
		past := float64(time.Now().Add(-time.Hour).Unix())
		_, out = adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"StartTime": past, "EndTime": future, "KeyId": keyID, "Operation": "Encrypt"})
		if rs := records(t, out); len(rs) != 3 {
			t.Fatalf("Encrypts of the last hour: %+v", rs)
		}
	})
	t.Run("search/bad-input", func(t *testing.T) {
		for _, c := range []struct {
			in         any
			code, want string
		}{
			{map[string]any{"Outcome": "maybe"}, "ValidationException", "1 validation error detected: Value 'maybe' at 'outcome' failed to satisfy constraint: Member must satisfy enum value set: [success, denied, failed]"},
			{map[string]any{"Limit": 0}, "ValidationException", "Value '0' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000"},
			{map[string]any{"Limit": 0, "AccountId": "12"}, "ValidationException", "2 validation errors detected: "},
			{map[string]any{"Marker": "not a marker"}, "InvalidMarkerException", "Invalid marker"},
			{map[string]any{"StartTime": 200, "EndTime": 100}, "ValidationException", "EndTime must be later than StartTime."},
			{`{"Limit":"ten"}`, "SerializationException", ""},
			{`{`, "SerializationException", ""},
		} {
			status, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", c.in)
			wantAdminError(t, status, out, c.code, c.want)
		}
	})
	t.Run("authz/identity-policy", func(t *testing.T) {
		status, out := adminCall(t, n, plainID, plainSecret, "SearchAudit", `{}`)
		wantAdminError(t, status, out, "AccessDeniedException",
			"User: arn:aws:iam::111122223333:user/plain is not authorized to perform: trent:SearchAudit on resource: * because no identity-based policy allows the trent:SearchAudit action")
		for _, op := range []string{"GetRequestCounts", "GetUsageReport"} {
			status, out := adminCall(t, n, plainID, plainSecret, op, `{}`)
			wantAdminError(t, status, out, "AccessDeniedException", "is not authorized to perform: trent:"+op)
		}
		status, out = adminCall(t, n, audID, audSecret, "SearchAudit", map[string]any{"KeyId": keyID, "Operation": "Encrypt"})
		if rs := records(t, out); status != 200 || len(rs) != 3 {
			t.Fatalf("auditor's search = %d %v", status, out)
		}
	})
	t.Run("isolation", func(t *testing.T) {
		// B sees its own records only, whatever it asks for.
		status, out := adminCall(t, n, bID, bSecret, "SearchAudit", map[string]any{"Limit": 1000})
		rs := records(t, out)
		if status != 200 || len(rs) == 0 {
			t.Fatalf("B's search = %d %v", status, out)
		}
		for _, r := range rs {
			if r.UserIdentity.AccountID != "444455556666" {
				t.Fatalf("B sees a record of account %s: %+v", r.UserIdentity.AccountID, r)
			}
		}
		_, out = adminCall(t, n, bID, bSecret, "SearchAudit", map[string]any{"KeyId": keyID})
		if rs := records(t, out); len(rs) != 0 {
			t.Fatalf("B finds A's key's records: %+v", rs)
		}
		for _, acct := range []string{testAccount, "*"} {
			status, out = adminCall(t, n, bID, bSecret, "SearchAudit", map[string]any{"AccountId": acct})
			wantAdminError(t, status, out, "AccessDeniedException", "only the management account may read the records of another account")
			status, out = adminCall(t, n, bID, bSecret, "GetRequestCounts", map[string]any{"AccountId": acct})
			wantAdminError(t, status, out, "AccessDeniedException", "only the management account")
		}
		// B's counts and usage hold B only.
		status, out = adminCall(t, n, bID, bSecret, "GetRequestCounts", map[string]any{"Period": 60})
		if status != 200 {
			t.Fatalf("B's counts = %d %v", status, out)
		}
		for _, a := range out["Accounts"].([]any) {
			if a.(map[string]any)["AccountId"] != "444455556666" {
				t.Fatalf("B's counts name account %v", a)
			}
		}
		status, out = adminCall(t, n, bID, bSecret, "GetUsageReport", `{}`)
		if status != 200 {
			t.Fatalf("B's usage report = %d %v", status, out)
		}
		rep := out["Report"].(map[string]any)
		for _, k := range rep["keys"].([]any) {
			if k.(map[string]any)["accountId"] != "444455556666" {
				t.Fatalf("B's report has a row of %v", k)
			}
		}
		if accts := rep["accounts"].([]any); len(accts) != 1 || accts[0].(map[string]any)["accountId"] != "444455556666" {
			t.Fatalf("B's report accounts = %v", accts)
		}
		// The management account may read B's records, or everyone's.
		_, out = adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"AccountId": "444455556666", "Operation": "Encrypt"})
		if rs := records(t, out); len(rs) != 1 || rs[0].UserIdentity.AccountID != "444455556666" {
			t.Fatalf("management search of B = %+v", rs)
		}
		_, out = adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"AccountId": "*", "Operation": "Encrypt"})
		if rs := records(t, out); len(rs) != 4 {
			t.Fatalf("management search of every account = %+v", rs)
		}
	})
	t.Run("counts", func(t *testing.T) {
		status, out := adminCall(t, n, testAccessKeyID, testSecret, "GetRequestCounts", map[string]any{"KeyId": keyID, "Period": 60})
		if status != 200 {
			t.Fatalf("GetRequestCounts = %d %v", status, out)
		}
		got := map[string]float64{}
		for _, d := range out["Datapoints"].([]any) {
			m := d.(map[string]any)
			got[m["Operation"].(string)+" "+m["Outcome"].(string)] += m["Count"].(float64)
		}
		if got["Encrypt success"] != 3 || got["Decrypt success"] != 2 || got["Decrypt failed"] != 1 || got["CreateKey success"] != 1 {
			t.Fatalf("counts = %v", got)
		}
		keys := out["Keys"].([]any)
		if len(keys) != 1 || keys[0].(map[string]any)["KeyArn"] != keyARN || keys[0].(map[string]any)["Success"] != 6.0 || keys[0].(map[string]any)["Failed"] != 1.0 {
			t.Fatalf("keys = %v", keys)
		}
		for _, c := range []struct {
			in         any
			code, want string
		}{
			{map[string]any{"Period": 61}, "ValidationException", "Value '61' at 'period' failed to satisfy constraint: Member must be a multiple of 60 between 60 and 86400"},
			{map[string]any{"Period": 60, "StartTime": 0, "EndTime": 86400 * 2}, "ValidationException", "the most is 1440"},
			{map[string]any{"KeyId": strings.Repeat("k", 2049)}, "ValidationException", "Member must have length less than or equal to 2048"},
		} {
			status, out := adminCall(t, n, testAccessKeyID, testSecret, "GetRequestCounts", c.in)
			wantAdminError(t, status, out, c.code, c.want)
		}
	})
	t.Run("usage-report", func(t *testing.T) {
		status, out := adminCall(t, n, audID, audSecret, "GetUsageReport", `{}`)
		if status != 200 {
			t.Fatalf("GetUsageReport = %d %v", status, out)
		}
		rep := out["Report"].(map[string]any)
		if rep["month"] != time.Now().UTC().Format("2006-01") {
			t.Fatalf("month = %v", rep["month"])
		}
		var found bool
		for _, k := range rep["keys"].([]any) {
			m := k.(map[string]any)
			if m["accountId"] != testAccount {
				t.Fatalf("A's report has a row of %v", m)
			}
			if m["keyArn"] == keyARN {
				found = true
				// CreateKey, 3 Encrypts and 2 Decrypts succeeded.
				if sym := m["requests"].(map[string]any)["symmetric"]; sym != 6.0 {
					t.Errorf("symmetric requests of the key = %v", sym)
				}
			}
		}
		if !found {
			t.Fatalf("the key is not in the report: %v", rep)
		}
		status, out = adminCall(t, n, testAccessKeyID, testSecret, "GetUsageReport", map[string]any{"Month": "2026-13"})
		wantAdminError(t, status, out, "ValidationException", "Value '2026-13' at 'month' failed to satisfy constraint")
		status, out = adminCall(t, n, testAccessKeyID, testSecret, "GetUsageReport", map[string]any{"Month": "2999-01"})
		wantAdminError(t, status, out, "ValidationException", "Month 2999-01 has not begun.")
	})
	t.Run("audited-without-secrets", func(t *testing.T) {
		// The queries are themselves in the trail, the refused ones too.
		_, out := adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"Operation": "SearchAudit", "AccountId": "*", "Limit": 1000})
		var ok, denied int
		for _, r := range records(t, out) {
			if r.EventSource != "trent.admin" {
				t.Fatalf("SearchAudit record from %s", r.EventSource)
			}
			switch r.ErrorCode {
			case "":
				ok++
			case "AccessDeniedException":
				denied++
			}
		}
		if ok == 0 || denied == 0 {
			t.Fatalf("SearchAudit records: %d allowed, %d denied", ok, denied)
		}
		_, out = adminCall(t, n, testAccessKeyID, testSecret, "SearchAudit", map[string]any{"AccountId": "*", "Limit": 1000})
		all, _ := json.Marshal(out)
		for _, s := range []string{testSecret, bSecret, audSecret, plainSecret, plaintext, "b's secret plaintext"} {
			if strings.Contains(string(all), s) {
				t.Fatalf("a secret (%.6s…) is in the audit trail's records", s)
			}
		}
	})
}
