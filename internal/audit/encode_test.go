package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// marshalReference is the encoding Record.marshal used before
// Record.appendJSON: json.Marshal, cut before the chain members.
func marshalReference(t *testing.T, r Record) ([]byte, error) {
	t.Helper()
	if r.RequestParameters == nil {
		r.RequestParameters = json.RawMessage("null")
	}
	if r.ResponseElements == nil {
		r.ResponseElements = json.RawMessage("null")
	}
	if r.Resources == nil {
		r.Resources = []Resource{}
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	const tail = `,"sequence":0,"previousHash":""}}`
	if !bytes.HasSuffix(b, []byte(tail)) {
		t.Fatalf("json.Marshal output does not end with the chain members: %s", b)
	}
	return b[:len(b)-len(tail)], nil
}

// Strings that exercise every escaping rule of encoding/json.
var encodeStrings = []string{
	"", "a", "Encrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	`quote " backslash \ slash /`, "<script>&amp;</script>", "tab\tnewline\nreturn\r", "\b\f\x00\x01\x1f\x7f",
	"héllo wörld", "日本語", "line\u2028sep\u2029para", "bad utf8 \xff\xfe", "\xc3", "emoji 😀",
	"aws-cli/2.0 Python/3.11 Linux/6.1", "1.11", "Root", "Allow",
}

var encodeRaws = []json.RawMessage{
	nil, json.RawMessage("null"), json.RawMessage(`{}`), json.RawMessage(`{"keyId":"k","encryptionContext":{"purpose":"bench"}}`),
	json.RawMessage(` { "a" : [1, 2 ,3] } `), json.RawMessage(`{"a":"<&>"}`), json.RawMessage(`{"a":"\u003c"}`),
	json.RawMessage(`{"a":"日本"}`), json.RawMessage("{\"a\":\"\u2028\"}"), json.RawMessage(`[true,false,null,-1.5e3]`),
	json.RawMessage("{\"a\":\"\xff\"}"), json.RawMessage(`"s"`),
}

func randomRecord(rng *rand.Rand) Record {
	s := func() string { return encodeStrings[rng.IntN(len(encodeStrings))] }
	r := Record{
		EventVersion: s(), EventTime: s(), EventSource: s(), EventName: s(), AWSRegion: s(), SourceIPAddress: s(),
		UserAgent: s(), ErrorCode: s(), ErrorMessage: s(),
		RequestParameters: encodeRaws[rng.IntN(len(encodeRaws))], ResponseElements: encodeRaws[rng.IntN(len(encodeRaws))],
		RequestID: s(), EventID: s(), ReadOnly: rng.IntN(2) == 0, EventType: s(), ManagementEvent: rng.IntN(2) == 0,
		RecipientAccountID: s(), EventCategory: s(),
		UserIdentity: UserIdentity{Type: s(), PrincipalID: s(), ARN: s(), AccountID: s(), AccessKeyID: s(), UserName: s()},
	}
	if rng.IntN(2) == 0 {
		sc := &SessionContext{Attributes: SessionAttribute{CreationDate: s(), MFAAuthenticated: s()}}
		if rng.IntN(2) == 0 {
			sc.SessionIssuer = &SessionIssuer{Type: s(), PrincipalID: s(), ARN: s(), AccountID: s(), UserName: s()}
		}
		r.UserIdentity.SessionContext = sc
	}
	switch rng.IntN(3) {
	case 0:
		r.Resources = nil
	case 1:
		r.Resources = []Resource{}
	default:
		for range 1 + rng.IntN(3) {
			r.Resources = append(r.Resources, Resource{AccountID: s(), Type: s(), ARN: s()})
		}
	}
	r.Trent = Trent{Decision: s(), Status: []int{0, 200, 400, 500, -1}[rng.IntN(5)],
		LatencyMS: []float64{0, math.Copysign(0, -1), 0.001, 1.234, 1e-7, 1e21, 123456.789, -2.5, 1e20, 5e-324}[rng.IntN(10)]}
	switch rng.IntN(3) {
	case 0:
		r.Trent.Checks = nil
	case 1:
		r.Trent.Checks = []Check{}
	default:
		for range 1 + rng.IntN(3) {
			r.Trent.Checks = append(r.Trent.Checks, Check{Action: s(), Resource: s(), Decision: s(), Source: s(),
				PolicyIndex: rng.IntN(3) - 1, Statement: rng.IntN(4) - 1, Sid: s(), GrantID: s(), Reason: s()})
		}
	}
	return r
}

// TestAppendJSONMatchesMarshal: the hand-written encoder writes exactly
// the bytes json.Marshal writes, for many records mixing every field,
// omitted members, escaping case and raw document, so the record format is
// unchanged; and it fails where json.Marshal fails.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		r := randomRecord(rng)
		want, werr := marshalReference(t, r)
		got, gerr := r.marshal([]byte("prefix"))
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("record %d: json.Marshal error %v, appendJSON error %v", i, werr, gerr)
		}
		if werr != nil {
			continue
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("record %d differs:\njson.Marshal: %s\nappendJSON:   %s", i, want, got[len("prefix"):])
		}
	}
}

// TestAppendJSONErrors: what json.Marshal refuses — a raw document that
// is not JSON, a latency that is NaN or infinite — is refused.
func TestAppendJSONErrors(t *testing.T) {
	for _, r := range []Record{
		{RequestParameters: json.RawMessage(`{"a":`)},
		{ResponseElements: json.RawMessage(`{} {}`)},
		{RequestParameters: json.RawMessage(`{"a": 1`)},
		{Trent: Trent{LatencyMS: math.NaN()}},
		{Trent: Trent{LatencyMS: math.Inf(1)}},
	} {
		if _, err := marshalReference(t, r); err == nil {
			t.Fatalf("json.Marshal accepted %+v", r)
		}
		if b, err := r.marshal(nil); err == nil {
			t.Fatalf("appendJSON accepted %+v: %s", r, b)
		}
	}
}

func BenchmarkRecordMarshal(b *testing.B) {
	r := Record{
		EventVersion: EventVersion, EventTime: "2026-01-01T00:00:00Z", EventSource: SourceKMS, EventName: "Encrypt",
		AWSRegion: "us-east-1", SourceIPAddress: "127.0.0.1", UserAgent: "aws-sdk-go-v2/1.0", RequestID: "r", EventID: "e",
		ReadOnly: true, EventType: "AwsApiCall", ManagementEvent: true, RecipientAccountID: "111122223333", EventCategory: "Management",
		UserIdentity:      UserIdentity{Type: "Root", PrincipalID: "111122223333", ARN: "arn:aws:iam::111122223333:root", AccountID: "111122223333", AccessKeyID: "AKIA"},
		RequestParameters: json.RawMessage(`{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab","encryptionContext":{"purpose":"bench"},"encryptionAlgorithm":"SYMMETRIC_DEFAULT"}`),
		Resources:         []Resource{{AccountID: "111122223333", Type: "AWS::KMS::Key", ARN: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
		Trent: Trent{Decision: "Allow", Status: 200, LatencyMS: 0.123, Checks: []Check{{Action: "kms:Encrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			Decision: "Allow", Source: "resource", Statement: 0, Sid: "Enable IAM User Permissions", Reason: "statement allows"}}},
	}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(&r)
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = r.marshal(buf[:0])
		}
	})
}
