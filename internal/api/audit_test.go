package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/trent-kms/trent/internal/api"
	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/wire"
)

type auditEnv struct {
	h     *api.Handler
	svc   *kms.Service
	log   *audit.Log
	dir   string
	sig   *audit.Signer
	keyID string
	key2  string
}

func newAuditEnv(t *testing.T) *auditEnv { return newAuditEnvTB(t) }

func newAuditEnvTB(t testing.TB) *auditEnv {
	b := newBase(t, kms.Config{})
	dir, root, db, svc, ctx := b.dir, b.root, b.db, b.svc, context.Background()
	if _, err := svc.Bootstrap(ctx, "444455556666", "AKIAOTHERACCOUNT0001", secret); err != nil {
		t.Fatal(err)
	}
	c := &kms.Caller{AccountID: kms.DefaultAccountID, Region: "us-east-1"}
	var ids []string
	for range 2 {
		ck, err := svc.CreateKey(ctx, c, &wire.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, *ck.KeyMetadata.KeyId)
	}
	sig, err := audit.LoadSigner(ctx, db, root, rand.Reader, func(err error) bool { return err != nil && strings.Contains(err.Error(), "not found") })
	if err != nil {
		t.Fatal(err)
	}
	adir := filepath.Join(dir, "audit")
	l, err := audit.Open(audit.Options{Dir: adir, Signer: sig})
	if err != nil {
		t.Fatal(err)
	}
	return &auditEnv{h: api.NewHandler(api.Config{Service: svc, Audit: l}), svc: svc, log: l, dir: adir, sig: sig, keyID: ids[0], key2: ids[1]}
}

// do sends r and returns its request id and response.
func (e *auditEnv) do(t *testing.T, r *http.Request) (string, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	id := w.Header().Get("x-amzn-RequestId")
	if id == "" {
		t.Fatal("no request id")
	}
	return id, w
}

// records closes the log, verifies the trail and returns its records by
// request id, with the raw file contents.
func (e *auditEnv) records(t *testing.T) (map[string]map[string]any, []byte) {
	if err := e.log.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Verify(e.dir, e.sig.Public()); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	var all []byte
	ents, _ := os.ReadDir(e.dir)
	for _, ent := range ents {
		if !strings.HasSuffix(ent.Name(), ".jsonl") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.dir, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			id := m["requestID"].(string)
			if out[id] != nil {
				t.Fatalf("two records for request %s", id)
			}
			out[id] = m
		}
	}
	return out, all
}

func keysOf(v any) []string {
	m, _ := v.(map[string]any)
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func loadExample(t *testing.T, name string) map[string]any {
	b, err := os.ReadFile(filepath.Join("testdata", "cloudtrail", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// compareShape checks a record against a recorded AWS event: every
// top-level field, userIdentity field (but userName, which only IAM users
// have) and resources field of AWS's is there, each field of ours but the
// trent object is one CloudTrail has, requestParameters have the same keys
// and responseElements the same shape.
func compareShape(t *testing.T, ours, aws map[string]any) {
	t.Helper()
	for _, k := range keysOf(aws) {
		if _, ok := ours[k]; !ok {
			t.Errorf("record lacks %q", k)
		}
	}
	for _, k := range keysOf(ours) {
		if _, ok := aws[k]; !ok && !slices.Contains([]string{"trent", "managementEvent", "eventCategory", "errorCode", "errorMessage"}, k) {
			t.Errorf("record has %q, which CloudTrail does not", k)
		}
	}
	for _, k := range keysOf(aws["userIdentity"]) {
		if _, ok := ours["userIdentity"].(map[string]any)[k]; !ok && k != "userName" {
			t.Errorf("userIdentity lacks %q", k)
		}
	}
	if got, want := keysOf(ours["requestParameters"]), keysOf(aws["requestParameters"]); !slices.Equal(got, want) {
		t.Errorf("requestParameters keys %v; AWS logs %v", got, want)
	}
	if (ours["responseElements"] == nil) != (aws["responseElements"] == nil) {
		t.Errorf("responseElements %v; AWS logs %v", ours["responseElements"], aws["responseElements"])
	}
	if re, ok := aws["responseElements"].(map[string]any); ok {
		got, _ := ours["responseElements"].(map[string]any)
		for k, v := range re {
			if _, ok := got[k]; !ok {
				t.Errorf("responseElements lacks %q", k)
			}
			for _, kk := range keysOf(v) {
				if _, ok := got[k].(map[string]any)[kk]; !ok {
					t.Errorf("responseElements.%s lacks %q", k, kk)
				}
			}
		}
	}
	rs, _ := ours["resources"].([]any)
	ars, _ := aws["resources"].([]any)
	if len(rs) != len(ars) {
		t.Fatalf("resources %v; AWS logs %d", rs, len(ars))
	}
	for i := range rs {
		for _, k := range keysOf(ars[i]) {
			if _, ok := rs[i].(map[string]any)[k]; !ok {
				t.Errorf("resources[%d] lacks %q", i, k)
			}
		}
	}
	for _, k := range []string{"eventVersion", "eventSource", "eventType", "readOnly"} {
		if ours[k] != aws[k] && k != "eventVersion" {
			t.Errorf("%s = %v; AWS logs %v", k, ours[k], aws[k])
		}
	}
}

// TestAuditRecordShapes sends the requests of the AWS KMS Developer
// Guide's CloudTrail examples (testdata/cloudtrail) and compares the
// records' shapes with AWS's.
func TestAuditRecordShapes(t *testing.T) {
	e := newAuditEnv(t)
	plaintext := "the audited plaintext, never logged"
	pt64 := base64.StdEncoding.EncodeToString([]byte(plaintext))
	// A real grant token: Encrypt refuses one the server did not issue.
	_, w := e.do(t, signed(t, "CreateGrant", `{"KeyId":"`+e.keyID+`","GranteePrincipal":"arn:aws:iam::111122223333:root","Operations":["Encrypt"]}`))
	if w.Code != 200 {
		t.Fatalf("CreateGrant: %d %s", w.Code, w.Body)
	}
	var cg struct{ GrantToken string }
	json.Unmarshal(w.Body.Bytes(), &cg)
	grantToken := cg.GrantToken
	encID, w := e.do(t, signed(t, "Encrypt", `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/`+e.keyID+`","Plaintext":"`+pt64+
		`","EncryptionContext":{"Department":"Engineering"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT","GrantTokens":["`+grantToken+`"]}`))
	if w.Code != 200 {
		t.Fatalf("Encrypt: %d %s", w.Code, w.Body)
	}
	var enc struct{ CiphertextBlob []byte }
	json.Unmarshal(w.Body.Bytes(), &enc)
	ct64 := base64.StdEncoding.EncodeToString(enc.CiphertextBlob)
	decBody := `{"CiphertextBlob":"` + ct64 + `","EncryptionContext":{"Department":"Engineering","Project":"Alpha"}}`
	// The context differs: re-encrypt with the right one first.
	_, w = e.do(t, signed(t, "Encrypt", `{"KeyId":"`+e.keyID+`","Plaintext":"`+pt64+`","EncryptionContext":{"Department":"Engineering","Project":"Alpha"}}`))
	json.Unmarshal(w.Body.Bytes(), &enc)
	ct64 = base64.StdEncoding.EncodeToString(enc.CiphertextBlob)
	decBody = `{"CiphertextBlob":"` + ct64 + `","EncryptionContext":{"Department":"Engineering","Project":"Alpha"}}`
	decID, w := e.do(t, signed(t, "Decrypt", decBody))
	if w.Code != 200 {
		t.Fatalf("Decrypt: %d %s", w.Code, w.Body)
	}
	badDecID, w := e.do(t, signed(t, "Decrypt", `{"CiphertextBlob":"`+ct64+`","KeyId":"arn:aws:kms:us-east-1:111122223333:key/`+e.key2+
		`","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","EncryptionContext":{"Department":"Engineering","Project":"Alpha"}}`))
	if w.Code != 400 {
		t.Fatalf("Decrypt with the wrong key: %d %s", w.Code, w.Body)
	}
	gdkID, w := e.do(t, signed(t, "GenerateDataKey", `{"KeyId":"`+e.keyID+`","KeySpec":"AES_256","EncryptionContext":{"Department":"Engineering","Project":"Alpha"}}`))
	if w.Code != 200 {
		t.Fatalf("GenerateDataKey: %d %s", w.Code, w.Body)
	}
	var dk struct{ Plaintext []byte }
	json.Unmarshal(w.Body.Bytes(), &dk)
	ckID, w := e.do(t, signed(t, "CreateKey", `{"Description":"","Origin":"EXTERNAL","BypassPolicyLockoutSafetyCheck":false,"KeySpec":"SYMMETRIC_DEFAULT","KeyUsage":"ENCRYPT_DECRYPT"}`))
	if w.Code != 200 {
		// Trent may not support EXTERNAL keys: fall back to the default
		// origin, whose record has the same shape.
		ckID, w = e.do(t, signed(t, "CreateKey", `{"Description":"","Origin":"AWS_KMS","BypassPolicyLockoutSafetyCheck":false,"KeySpec":"SYMMETRIC_DEFAULT","KeyUsage":"ENCRYPT_DECRYPT"}`))
	}
	if w.Code != 200 {
		t.Fatalf("CreateKey: %d %s", w.Code, w.Body)
	}
	sdID, w := e.do(t, signed(t, "ScheduleKeyDeletion", `{"KeyId":"`+e.key2+`","PendingWindowInDays":20}`))
	if w.Code != 200 {
		t.Fatalf("ScheduleKeyDeletion: %d %s", w.Code, w.Body)
	}
	// Denied: another account uses the key.
	other := aws.Credentials{AccessKeyID: "AKIAOTHERACCOUNT0001", SecretAccessKey: secret}
	deniedID, w := e.do(t, signedAs(t, other, "us-east-1", "Encrypt", `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/`+e.keyID+`","Plaintext":"`+pt64+`"}`))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "AccessDeniedException") {
		t.Fatalf("cross-account Encrypt: %d %s", w.Code, w.Body)
	}
	// Authentication failure.
	badSigID, w := e.do(t, signedAs(t, aws.Credentials{AccessKeyID: akid, SecretAccessKey: "wrong"}, "us-west-2", "Encrypt", `{"KeyId":"`+e.keyID+`","Plaintext":"`+pt64+`"}`))
	if w.Code != 400 {
		t.Fatalf("bad signature: %d %s", w.Code, w.Body)
	}

	recs, raw := e.records(t)
	for name, id := range map[string]string{"encrypt.json": encID, "decrypt.json": decID, "decrypt-failure.json": badDecID,
		"generatedatakey.json": gdkID, "createkey.json": ckID, "schedulekeydeletion.json": sdID} {
		t.Run(name, func(t *testing.T) {
			r := recs[id]
			if r == nil {
				t.Fatal("no record")
			}
			ex := loadExample(t, name)
			// Trent refuses KeySpec with the deprecated
			// CustomerMasterKeySpec, which the AWS example shows both of.
			delete(ex["requestParameters"].(map[string]any), "customerMasterKeySpec")
			compareShape(t, r, ex)
		})
	}

	// Decrypt names the key and algorithm although the request did not.
	rp := recs[decID]["requestParameters"].(map[string]any)
	if rp["keyId"] != "arn:aws:kms:us-east-1:111122223333:key/"+e.keyID || rp["encryptionAlgorithm"] != "SYMMETRIC_DEFAULT" {
		t.Errorf("Decrypt requestParameters %v", rp)
	}
	if r := recs[badDecID]; r["errorCode"] != "IncorrectKeyException" || r["errorMessage"] == "" {
		t.Errorf("failed Decrypt: errorCode %v, errorMessage %v", r["errorCode"], r["errorMessage"])
	}
	if ui := recs[encID]["userIdentity"].(map[string]any); ui["type"] != "Root" || ui["accessKeyId"] != akid || ui["arn"] != "arn:aws:iam::111122223333:root" {
		t.Errorf("userIdentity %v", ui)
	}
	tr := recs[encID]["trent"].(map[string]any)
	if tr["decision"] != "Allow" || tr["httpStatus"] != float64(200) || len(tr["checks"].([]any)) == 0 {
		t.Errorf("trent %v", tr)
	}
	d := recs[deniedID]
	if d["errorCode"] != "AccessDeniedException" || d["trent"].(map[string]any)["decision"] != "Deny" {
		t.Errorf("denied record: %v", d)
	}
	if ch := d["trent"].(map[string]any)["checks"].([]any)[0].(map[string]any); ch["reason"] == "" || ch["action"] != "kms:Encrypt" {
		t.Errorf("denied check %v", ch)
	}
	if ui := d["userIdentity"].(map[string]any); ui["accountId"] != "444455556666" {
		t.Errorf("denied userIdentity %v", ui)
	}
	b := recs[badSigID]
	if ui := b["userIdentity"].(map[string]any); ui["type"] != "Unknown" || ui["accessKeyId"] != akid || b["errorCode"] == nil || b["awsRegion"] != "us-west-2" {
		t.Errorf("authentication failure record: %v", b)
	}
	// No secret reaches the trail.
	for what, s := range map[string]string{"plaintext": plaintext, "plaintext (base64)": pt64, "grant token": grantToken,
		"ciphertext": ct64, "data key": base64.StdEncoding.EncodeToString(dk.Plaintext), "secret access key": secret} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the audit trail holds the %s", what)
		}
	}
}

// TestAuditEveryOperation sends every operation the handler serves, with
// an empty request: each gets exactly one record with the right event
// name, source, type and read-only flag.
func TestAuditEveryOperation(t *testing.T) {
	e := newAuditEnv(t)
	ids := map[string]string{}
	for _, op := range api.RouteOperations() {
		id, _ := e.do(t, signed(t, op, `{}`))
		ids[op] = id
	}
	unknownID, _ := e.do(t, signed(t, "NoSuchOperation", `{}`))
	recs, _ := e.records(t)
	if len(recs) != len(ids)+1 {
		t.Fatalf("%d records for %d requests", len(recs), len(ids)+1)
	}
	for op, id := range ids {
		r := recs[id]
		if r == nil {
			t.Errorf("%s: no record", op)
			continue
		}
		if r["eventName"] != op || r["eventSource"] != "kms.amazonaws.com" || r["eventType"] != "AwsApiCall" ||
			r["readOnly"] != !api.Mutating(op) || r["awsRegion"] != "us-east-1" || r["recipientAccountId"] != "111122223333" ||
			r["eventCategory"] != "Management" || r["managementEvent"] != true || r["eventID"] == "" {
			t.Errorf("%s: record %v", op, r)
		}
	}
	if r := recs[unknownID]; r == nil || r["errorCode"] != "UnknownOperationException" {
		t.Errorf("unknown operation: %v", r)
	}
}

// TestAuditFailureFailsRequest: when the record cannot be written, a
// request that would succeed fails with KMSInternalException instead, and
// its response carries no plaintext.
func TestAuditFailureFailsRequest(t *testing.T) {
	e := newAuditEnv(t)
	e.log.Close() // a closed log refuses every record
	_, w := e.do(t, signed(t, "GenerateDataKey", `{"KeyId":"`+e.keyID+`","KeySpec":"AES_256"}`))
	if w.Code != 500 || !strings.Contains(w.Body.String(), "KMSInternalException") || strings.Contains(w.Body.String(), "Plaintext") {
		t.Fatalf("GenerateDataKey without audit: %d %s", w.Code, w.Body)
	}
}

// BenchmarkHandlerAudited is BenchmarkHandler's Encrypt with the audit
// trail on: sequential (one fsync per request) and parallel (group commit
// shares fsyncs between concurrent requests).
func BenchmarkHandlerAudited(b *testing.B) {
	e := newAuditEnvTB(b)
	defer e.log.Close()
	body := `{"KeyId":"` + e.keyID + `","Plaintext":"` + strings.Repeat("A", 44) + `","EncryptionContext":{"purpose":"bench"}}`
	req := signed(b, "Encrypt", body)
	one := func(b testing.TB) {
		r := req.Clone(context.Background())
		r.Body = ioNopCloser(body)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("Encrypt: %d %s", w.Code, w.Body)
		}
	}
	b.Run("Encrypt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			one(b)
		}
	})
	b.Run("Encrypt-nofsync", func(b *testing.B) {
		// The same records to a sink without fsync: the CPU cost of
		// building, encoding and chaining a record.
		l, err := audit.Open(audit.Options{Stdout: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		h := api.NewHandler(api.Config{Service: e.svc, Audit: l})
		b.ReportAllocs()
		for b.Loop() {
			r := req.Clone(context.Background())
			r.Body = ioNopCloser(body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("Encrypt: %d %s", w.Code, w.Body)
			}
		}
	})
	b.Run("Encrypt-parallel", func(b *testing.B) {
		// 16 concurrent requests, as trent bench's default client. The
		// process's CPU time per request (user and system, the writer's
		// syscalls included) is the figure to compare with
		// BenchmarkHandler: wall time per op mostly waits for the disk.
		b.ReportAllocs()
		b.SetParallelism(8)
		before, cpu0 := e.log.Stats(), processCPU()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				one(b)
			}
		})
		st, cpu := e.log.Stats(), processCPU()-cpu0
		batches := float64(max(1, st.Batches-before.Batches))
		b.ReportMetric(float64(st.Records-before.Records)/batches, "records/fsync")
		b.ReportMetric(float64((st.SyncTime-before.SyncTime).Microseconds())/batches, "µs/fsync")
		if cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(b.N), "cpu-µs/op")
		}
	})
	b.Run("Encrypt-parallel-noaudit", func(b *testing.B) {
		// The same without the audit trail, for reference.
		h := api.NewHandler(api.Config{Service: e.svc})
		b.ReportAllocs()
		b.SetParallelism(8)
		cpu0 := processCPU()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r := req.Clone(context.Background())
				r.Body = ioNopCloser(body)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("Encrypt: %d %s", w.Code, w.Body)
				}
			}
		})
		if cpu := processCPU() - cpu0; cpu > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(b.N), "cpu-µs/op")
		}
	})
}
