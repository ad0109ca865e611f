package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// These tests speak awsJson1.1 by hand, signing net/http requests with the
// SDK's SigV4 signer, to check what SDKs hide: status codes, headers and
// the exact JSON bodies. Sources: /tmp/aws-kms-facts.md section 4 and
// internal/wire/status.go.

// rawRequest describes one hand-made request.
type rawRequest struct {
	method string // "" means POST
	region string // "" means us-east-1
	target string // X-Amz-Target; "" leaves the header out
	body   string
	akid   string // "" means the test access key
	secret string // "" means the test secret
	noAuth bool   // send no Authorization header
	ctype  string // Content-Type; "" means application/x-amz-json-1.1
}

// rawResponse is what came back.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a map of raw members.
func (r rawResponse) json(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

var requestIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// do sends rr to the node and checks what every response must have: a
// request id and the awsJson1.1 content type.
func (n *node) do(t *testing.T, rr rawRequest) rawResponse {
	t.Helper()
	if rr.method == "" {
		rr.method = http.MethodPost
	}
	if rr.region == "" {
		rr.region = "us-east-1"
	}
	if rr.akid == "" {
		rr.akid = testAccessKeyID
	}
	if rr.secret == "" {
		rr.secret = testSecret
	}
	req, err := http.NewRequest(rr.method, n.srv.URL()+"/", strings.NewReader(rr.body))
	if err != nil {
		t.Fatal(err)
	}
	if rr.ctype == "" {
		rr.ctype = "application/x-amz-json-1.1"
	}
	req.Header.Set("Content-Type", rr.ctype)
	if rr.target != "" {
		req.Header.Set("X-Amz-Target", rr.target)
	}
	if !rr.noAuth {
		sum := sha256.Sum256([]byte(rr.body))
		creds := aws.Credentials{AccessKeyID: rr.akid, SecretAccessKey: rr.secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", rr.region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResponse{status: resp.StatusCode, header: resp.Header, body: body}
	if id := resp.Header.Get("x-amzn-RequestId"); !requestIDPattern.MatchString(id) {
		t.Errorf("%s: x-amzn-RequestId = %q", rr.target, id)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("%s: Content-Type = %q", rr.target, ct)
	}
	return out
}

// wantRawError checks an error response: the status, and a body of exactly
// {"__type": code, "message": msg}, with no message member when msg is ""
// and any message when msg is "*".
func wantRawError(t *testing.T, r rawResponse, status int, code, msg string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	m := r.json(t)
	var typ string
	if err := json.Unmarshal(m["__type"], &typ); err != nil || typ != code {
		t.Errorf("__type = %s, want %q (body %s)", m["__type"], code, r.body)
	}
	for k := range m {
		if k != "__type" && k != "message" {
			t.Errorf("unexpected member %q in error body %s", k, r.body)
		}
	}
	raw, has := m["message"]
	switch {
	case msg == "" && has:
		t.Errorf("error body has a message: %s", r.body)
	case msg == "*":
	case msg != "":
		var got string
		if err := json.Unmarshal(raw, &got); err != nil || got != msg {
			t.Errorf("message = %s, want %q", raw, msg)
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")
	md := newKey(t, c)
	disabled := newKey(t, c)
	pending := newKey(t, c)
	ctx := context.Background()
	mustOK(t, "DisableKey", second(c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: disabled.KeyId})))
	mustOK(t, "ScheduleKeyDeletion", second(c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: pending.KeyId})))
	const missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
	keyBody := func(id string) string { return `{"KeyId":"` + id + `"}` }
	encBody := func(id string) string { return `{"KeyId":"` + id + `","Plaintext":"aGVsbG8="}` }

	cases := []struct {
		name      string
		req       rawRequest
		status    int
		code, msg string
	}{
		{"unknown-operation", rawRequest{target: "TrentService.NoSuchOperation", body: "{}"}, 400, "UnknownOperationException", ""},
		{"other-service-prefix", rawRequest{target: "DynamoDB_20120810.ListTables", body: "{}"}, 400, "UnknownOperationException", ""},
		{"no-target", rawRequest{body: "{}"}, 400, "UnknownOperationException", ""},
		{"get-method", rawRequest{method: http.MethodGet, target: "TrentService.ListKeys"}, 400, "UnknownOperationException", ""},
		{"malformed-json", rawRequest{target: "TrentService.DescribeKey", body: `{"KeyId":`}, 400, "SerializationException", "*"},
		{"json-array", rawRequest{target: "TrentService.ListKeys", body: `[]`}, 400, "SerializationException", "*"},
		{"wrong-member-type", rawRequest{target: "TrentService.GenerateRandom", body: `{"NumberOfBytes":"12"}`}, 400, "SerializationException", "Unexpected value at 'NumberOfBytes'"},
		{"duplicate-member", rawRequest{target: "TrentService.DescribeKey", body: `{"KeyId":"alias/a","KeyId":"` + *md.KeyId + `"}`}, 400, "SerializationException", ""},
		{"duplicate-context-key", rawRequest{target: "TrentService.Encrypt", body: `{"KeyId":"` + *md.KeyId + `","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"1","a":"1"}}`}, 400, "SerializationException", ""},
		{"unpaired-surrogate", rawRequest{target: "TrentService.Encrypt", body: `{"KeyId":"` + *md.KeyId + `","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"\udfff"}}`}, 400, "SerializationException", ""},
		{"plain-json-content-type", rawRequest{target: "TrentService.ListKeys", body: "{}", ctype: "application/json"}, 404, "UnknownOperationException", ""},
		{"text-content-type", rawRequest{target: "TrentService.ListKeys", body: "{}", ctype: "text/plain"}, 404, "UnknownOperationException", ""},
		{"missing-required", rawRequest{target: "TrentService.DescribeKey", body: `{}`}, 400, "ValidationException",
			"1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"missing-description", rawRequest{target: "TrentService.UpdateKeyDescription", body: keyBody(*md.KeyId)}, 400, "ValidationException",
			"1 validation error detected: Value null at 'description' failed to satisfy constraint: Member must not be null"},
		{"missing-auth", rawRequest{target: "TrentService.ListKeys", body: "{}", noAuth: true}, 400, "MissingAuthenticationTokenException",
			"Request is missing Authentication Token"},
		{"wrong-secret", rawRequest{target: "TrentService.ListKeys", body: "{}", secret: "not-the-secret-at-all-0000000000000000000"}, 400, "InvalidSignatureException",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{"unknown-access-key", rawRequest{target: "TrentService.ListKeys", body: "{}", akid: "AKIAUNKNOWNKEY000001"}, 400, "UnrecognizedClientException",
			"The security token included in the request is invalid."},
		{"unserved-region", rawRequest{target: "TrentService.ListKeys", body: "{}", region: "xx-nowhere-1"}, 400, "UnrecognizedClientException",
			"The security token included in the request is invalid."},
		{"oversized-body", rawRequest{target: "TrentService.Encrypt", body: `{"Plaintext":"` + strings.Repeat("A", 1<<20) + `"}`}, 413, "RequestEntityTooLargeException", "*"},
		{"oversized-policy", rawRequest{target: "TrentService.PutKeyPolicy", body: `{"Policy":"` + strings.Repeat("A", 2<<20) + `"}`}, 413, "RequestEntityTooLargeException", "*"},
		{"not-found", rawRequest{target: "TrentService.DescribeKey", body: keyBody(missing)}, 400, "NotFoundException",
			"Key '" + arnOf("us-east-1", missing) + "' does not exist"},
		{"disabled", rawRequest{target: "TrentService.Encrypt", body: encBody(*disabled.KeyId)}, 400, "DisabledException", *disabled.Arn + " is disabled."},
		{"invalid-state", rawRequest{target: "TrentService.Encrypt", body: encBody(*pending.KeyId)}, 400, "KMSInvalidStateException", *pending.Arn + " is pending deletion."},
		{"invalid-ciphertext", rawRequest{target: "TrentService.Decrypt", body: `{"CiphertextBlob":"AAECAwQFBgcICQ=="}`}, 400, "InvalidCiphertextException", ""},
		{"reserved-alias", rawRequest{target: "TrentService.CreateAlias", body: `{"AliasName":"alias/aws/s3","TargetKeyId":"` + *md.KeyId + `"}`}, 400, "NotAuthorizedException", ""},
		{"validation", rawRequest{target: "TrentService.GenerateRandom", body: `{"NumberOfBytes":0}`}, 400, "ValidationException",
			"1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"dry-run", rawRequest{target: "TrentService.Encrypt", body: `{"KeyId":"` + *md.KeyId + `","Plaintext":"aGVsbG8=","DryRun":true}`}, 400, "DryRunOperationException", "*"},
	}
	ids := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := n.do(t, tc.req)
			wantRawError(t, r, tc.status, tc.code, tc.msg)
			id := r.header.Get("x-amzn-RequestId")
			if ids[id] {
				t.Errorf("request id %s used twice", id)
			}
			ids[id] = true
		})
	}
}

func TestProtocolResponses(t *testing.T) {
	n := startNode(t)
	c := n.client("us-east-1")

	r := n.do(t, rawRequest{target: "TrentService.CreateKey", body: `{"Description":"raw"}`})
	if r.status != http.StatusOK {
		t.Fatalf("CreateKey: %d %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte("null")) {
		t.Errorf("CreateKey response sends null members: %s", r.body)
	}
	var ck struct{ KeyMetadata map[string]json.RawMessage }
	if err := json.Unmarshal(r.body, &ck); err != nil {
		t.Fatal(err)
	}
	// CreationDate is a JSON number of epoch seconds.
	var created float64
	if err := json.Unmarshal(ck.KeyMetadata["CreationDate"], &created); err != nil || created < 1e9 {
		t.Errorf("CreationDate = %s", ck.KeyMetadata["CreationDate"])
	}
	var id string
	json.Unmarshal(ck.KeyMetadata["KeyId"], &id)
	wantMembers(t, "KeyMetadata", ck.KeyMetadata, "AWSAccountId", "KeyId", "Arn", "CreationDate", "Enabled", "Description",
		"KeyUsage", "KeyState", "Origin", "KeyManager", "CustomerMasterKeySpec", "KeySpec", "EncryptionAlgorithms",
		"MultiRegion", "CurrentKeyMaterialId")

	r = n.do(t, rawRequest{target: "TrentService.Encrypt", body: `{"KeyId":"` + id + `","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"1","b":"2","c":"3"}}`})
	enc := r.json(t)
	wantMembers(t, "Encrypt", enc, "CiphertextBlob", "KeyId", "EncryptionAlgorithm")
	// The same context with its members in another order decrypts.
	r = n.do(t, rawRequest{target: "TrentService.Decrypt", body: `{"CiphertextBlob":` + string(enc["CiphertextBlob"]) + `,"EncryptionContext":{"c":"3","a":"1","b":"2"}}`})
	if r.status != http.StatusOK {
		t.Fatalf("Decrypt with reordered context: %d %s", r.status, r.body)
	}
	dec := r.json(t)
	wantMembers(t, "Decrypt", dec, "KeyId", "Plaintext", "EncryptionAlgorithm", "KeyMaterialId")
	if string(dec["Plaintext"]) != `"`+base64.StdEncoding.EncodeToString([]byte("hello"))+`"` {
		t.Errorf("Plaintext = %s", dec["Plaintext"])
	}

	r = n.do(t, rawRequest{target: "TrentService.GenerateDataKey", body: `{"KeyId":"` + id + `","KeySpec":"AES_256"}`})
	wantMembers(t, "GenerateDataKey", r.json(t), "CiphertextBlob", "Plaintext", "KeyId", "KeyMaterialId")
	r = n.do(t, rawRequest{target: "TrentService.GenerateDataKeyWithoutPlaintext", body: `{"KeyId":"` + id + `","NumberOfBytes":16}`})
	wantMembers(t, "GenerateDataKeyWithoutPlaintext", r.json(t), "CiphertextBlob", "KeyId", "KeyMaterialId")
	r = n.do(t, rawRequest{target: "TrentService.GenerateRandom", body: `{"NumberOfBytes":8}`})
	wantMembers(t, "GenerateRandom", r.json(t), "Plaintext")

	// Operations without output answer an empty object.
	for _, target := range []string{"TrentService.DisableKey", "TrentService.EnableKey"} {
		r = n.do(t, rawRequest{target: target, body: `{"KeyId":"` + id + `"}`})
		if r.status != http.StatusOK || string(r.body) != "{}" {
			t.Errorf("%s: %d %s", target, r.status, r.body)
		}
	}

	// A list that is not truncated has Truncated false and no NextMarker.
	newKey(t, c)
	r = n.do(t, rawRequest{target: "TrentService.ListKeys", body: `{}`})
	lk := r.json(t)
	wantMembers(t, "ListKeys", lk, "Keys", "Truncated")
	if string(lk["Truncated"]) != "false" {
		t.Errorf("Truncated = %s", lk["Truncated"])
	}
	r = n.do(t, rawRequest{target: "TrentService.ListKeys", body: `{"Limit":1}`})
	lk = r.json(t)
	wantMembers(t, "ListKeys page", lk, "Keys", "Truncated", "NextMarker")
	r = n.do(t, rawRequest{target: "TrentService.ListKeyPolicies", body: `{"KeyId":"` + id + `"}`})
	if string(r.body) != `{"PolicyNames":["default"],"Truncated":false}` {
		t.Errorf("ListKeyPolicies body = %s", r.body)
	}
	// An empty body is an empty object.
	r = n.do(t, rawRequest{target: "TrentService.ListAliases", body: ``})
	if r.status != http.StatusOK {
		t.Errorf("ListAliases with an empty body: %d %s", r.status, r.body)
	}
}

// wantMembers checks that an object has exactly the named members.
func wantMembers(t *testing.T, what string, m map[string]json.RawMessage, names ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	names = slices.Clone(names)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s members = %v, want %v", what, got, names)
	}
}

// TestEmptyListsAreSent checks that empty lists are sent as [] rather than
// left out, as AWS does ("Keys": [] in an account without keys, "Tags": []
// after untagging).
func TestEmptyListsAreSent(t *testing.T) {
	n := startNode(t)
	for target, want := range map[string]string{
		"TrentService.ListKeys":    `{"Keys":[],"Truncated":false}`,
		"TrentService.ListAliases": `{"Aliases":[],"Truncated":false}`,
	} {
		r := n.do(t, rawRequest{target: target, region: "eu-north-1", body: "{}"})
		if r.status != http.StatusOK || string(r.body) != want {
			t.Errorf("%s: %d %s, want %s", target, r.status, r.body, want)
		}
	}
	r := n.do(t, rawRequest{target: "TrentService.CreateKey", body: "{}"})
	var ck struct{ KeyMetadata struct{ KeyId string } }
	json.Unmarshal(r.body, &ck)
	r = n.do(t, rawRequest{target: "TrentService.ListResourceTags", body: `{"KeyId":"` + ck.KeyMetadata.KeyId + `"}`})
	if string(r.body) != `{"Tags":[],"Truncated":false}` {
		t.Errorf("ListResourceTags: %s", r.body)
	}
}
