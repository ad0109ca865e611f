package wire_test

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/wire"
)

// decodable is implemented by every operation input shape.
type decodable[T any] interface {
	*T
	DecodeJSON([]byte) error
}

// decodeAs decodes body into a new T and returns it with the error.
func decodeAs[T any, PT decodable[T]](body string) (*T, error) {
	v := PT(new(T))
	err := v.DecodeJSON([]byte(body))
	return (*T)(v), err
}

// decodeCase is one row of the decoder's specification. want is the value
// the body must decode to; when wantMsg or wantErr is set, decoding must
// fail with SerializationException and that message ("" for none).
type decodeCase struct {
	name    string
	body    string
	want    any  // *wire.XxxRequest on success
	wantErr bool // SerializationException expected
	wantMsg string
	// foldsCase marks bodies that encoding/json reads differently (it folds
	// member-name case), so the differential check against it is skipped.
	foldsCase bool
}

func enc(v wire.EncryptRequest) *wire.EncryptRequest { return &v }

func decodeCases() []decodeCase {
	p := wire.Ptr[string]
	fail := func(name, body, msg string) decodeCase {
		return decodeCase{name: name, body: body, wantErr: true, wantMsg: msg}
	}
	deep := func(n int) string {
		return `{"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	}
	return []decodeCase{
		// Empty documents.
		{name: "empty/body", body: "", want: enc(wire.EncryptRequest{})},
		{name: "empty/whitespace", body: " \t\r\n", want: enc(wire.EncryptRequest{})},
		{name: "empty/null", body: "null", want: enc(wire.EncryptRequest{})},
		{name: "empty/object", body: "{}", want: enc(wire.EncryptRequest{})},
		{name: "null-member-is-absent", body: `{"KeyId":null,"EncryptionContext":null,"Plaintext":null}`, want: enc(wire.EncryptRequest{})},

		// Exact values.
		{name: "values/basic", body: `{"KeyId":"alias/x","Plaintext":"aGVsbG8=","EncryptionContext":{"a":"1","A":"2"},"GrantTokens":["t"],"DryRun":true,"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`,
			want: enc(wire.EncryptRequest{KeyId: p("alias/x"), Plaintext: []byte("hello"), EncryptionContext: map[string]string{"a": "1", "A": "2"},
				GrantTokens: []string{"t"}, DryRun: wire.Ptr(true), EncryptionAlgorithm: p("SYMMETRIC_DEFAULT")})},
		{name: "values/empty-containers", body: `{"Plaintext":"","EncryptionContext":{},"GrantTokens":[]}`,
			want: enc(wire.EncryptRequest{Plaintext: []byte{}, EncryptionContext: map[string]string{}, GrantTokens: []string{}})},
		{name: "values/escaped-slash-in-base64", body: `{"Plaintext":"\/w=="}`, want: enc(wire.EncryptRequest{Plaintext: []byte{0xff}})},
		{name: "values/escaped-name", body: `{"K\u0065yId":"k"}`, want: enc(wire.EncryptRequest{KeyId: p("k")})},
		{name: "values/escapes", body: `{"KeyId":"\"\\\/\b\f\n\r\t\u0000\u00e9"}`, want: enc(wire.EncryptRequest{KeyId: p("\"\\/\b\f\n\r\t\x00é")})},
		{name: "values/raw-utf8", body: "{\"EncryptionContext\":{\"clé\":\"\U0001F600\"}}", want: enc(wire.EncryptRequest{EncryptionContext: map[string]string{"clé": "\U0001F600"}})},
		{name: "surrogates/valid-pair-decodes-exactly", body: `{"EncryptionContext":{"k":"\ud83d\ude00","\uD83D\uDE00":"v"}}`,
			want: enc(wire.EncryptRequest{EncryptionContext: map[string]string{"k": "\U0001F600", "\U0001F600": "v"}})},
		{name: "values/noncharacter-is-valid", body: `{"KeyId":"\uffff\ufffd"}`, want: enc(wire.EncryptRequest{KeyId: p("\uffff\ufffd")})},
		{name: "unknown/ignored", body: `{"Unknown":{"a":[1,2.5e3,-0,true,false,null,"s",{}]},"KeyId":"k"}`, want: enc(wire.EncryptRequest{KeyId: p("k")})},

		// Member names match exactly; case variants are unknown members.
		{name: "case/lower-is-unknown", body: `{"keyid":"x","plaintext":"aGVsbG8="}`, want: enc(wire.EncryptRequest{}), foldsCase: true},
		{name: "case/variant-does-not-override", body: `{"KeyId":"alias/x","KEYID":"1234abcd-12ab-34cd-56ef-1234567890ab"}`,
			want: enc(wire.EncryptRequest{KeyId: p("alias/x")}), foldsCase: true},
		{name: "case/context-merge-attack", body: `{"EncryptionContext":{"a":"1"},"encryptioncontext":{"b":"2"}}`,
			want: enc(wire.EncryptRequest{EncryptionContext: map[string]string{"a": "1"}}), foldsCase: true},
		{name: "case/nested", body: `{"Tags":[{"tagkey":"a","TagKey":"b"}]}`,
			want: &wire.CreateKeyRequest{Tags: []wire.Tag{{TagKey: p("b")}}}, foldsCase: true},

		// Duplicates anywhere are refused.
		fail("duplicate/top-level", `{"KeyId":"a","KeyId":"b"}`, ""),
		fail("duplicate/top-level-null", `{"KeyId":null,"KeyId":"b"}`, ""),
		fail("duplicate/escaped-name", `{"KeyId":"a","K\u0065yId":"b"}`, ""),
		fail("duplicate/unknown-member", `{"Foo":1,"Foo":1}`, ""),
		fail("duplicate/context-key", `{"EncryptionContext":{"a":"1","a":"2"}}`, ""),
		fail("duplicate/context-key-escaped", `{"EncryptionContext":{"a":"1","\u0061":"1"}}`, ""),
		fail("duplicate/context-key-same-value", `{"EncryptionContext":{"a":"1","a":"1"}}`, ""),
		fail("duplicate/in-list-of-structures", `{"Tags":[{"TagKey":"a","TagKey":"b"}]}`, ""),
		fail("duplicate/in-nested-structure", `{"Recipient":{"AttestationDocument":"","AttestationDocument":""}}`, ""),
		fail("duplicate/in-unknown-object", `{"x":{"y":1,"y":2}}`, ""),
		fail("duplicate/in-unknown-list", `{"x":[{},{"y":1,"y":2}]}`, ""),
		{name: "duplicate/same-name-in-sibling-objects-is-fine", body: `{"Tags":[{"TagKey":"a"},{"TagKey":"b"}]}`,
			want: &wire.CreateKeyRequest{Tags: []wire.Tag{{TagKey: p("a")}, {TagKey: p("b")}}}},

		// Invalid UTF-8 anywhere.
		fail("utf8/value", "{\"KeyId\":\"\xff\"}", ""),
		fail("utf8/context-key", "{\"EncryptionContext\":{\"\xc3\":\"1\"}}", ""),
		fail("utf8/context-value", "{\"EncryptionContext\":{\"a\":\"x\xe2\x82\"}}", ""),
		fail("utf8/member-name", "{\"\xffKeyId\":\"a\"}", ""),
		fail("utf8/unknown-value", "{\"x\":[\"\x80\"]}", ""),
		fail("utf8/overlong", "{\"KeyId\":\"\xc0\xaf\"}", ""),
		fail("utf8/encoded-surrogate", "{\"KeyId\":\"\xed\xa0\x80\"}", ""),
		fail("utf8/outside-string", "{\"KeyId\":\"a\"\xff}", ""),
		fail("utf8/byte-order-mark", "\xef\xbb\xbf{}", ""),

		// Unpaired surrogate escapes.
		fail("surrogates/high-alone", `{"EncryptionContext":{"k":"\ud800"}}`, ""),
		fail("surrogates/low-alone", `{"EncryptionContext":{"k":"\udfff"}}`, ""),
		fail("surrogates/high-then-char", `{"KeyId":"\ud800x"}`, ""),
		fail("surrogates/high-then-non-low-escape", `{"KeyId":"\ud800\u0041"}`, ""),
		fail("surrogates/high-then-high", `{"KeyId":"\ud800\ud800"}`, ""),
		fail("surrogates/reversed", `{"KeyId":"\udc00\ud800"}`, ""),
		fail("surrogates/in-key", `{"EncryptionContext":{"\ud800":"v"}}`, ""),
		fail("surrogates/in-member-name", `{"\ud800":1}`, ""),
		fail("surrogates/in-unknown", `{"x":"\udc00"}`, ""),

		// Syntax.
		fail("syntax/truncated", `{"KeyId":`, ""),
		fail("syntax/array", `[]`, ""),
		fail("syntax/string", `"x"`, ""),
		fail("syntax/trailing-data", `{} {}`, ""),
		fail("syntax/trailing-comma", `{"KeyId":"a",}`, ""),
		fail("syntax/trailing-comma-list", `{"GrantTokens":["a",]}`, ""),
		fail("syntax/missing-colon", `{"KeyId" "a"}`, ""),
		fail("syntax/single-quotes", `{'KeyId':'a'}`, ""),
		fail("syntax/control-character", "{\"KeyId\":\"a\nb\"}", ""),
		fail("syntax/bad-escape", `{"KeyId":"\x41"}`, ""),
		fail("syntax/short-unicode-escape", `{"KeyId":"\u41"}`, ""),
		fail("syntax/bad-literal", `{"DryRun":tru}`, ""),
		fail("syntax/leading-zero", `{"NumberOfBytes":01}`, ""),
		fail("syntax/plus-sign", `{"NumberOfBytes":+1}`, ""),
		fail("syntax/bare-fraction", `{"NumberOfBytes":1.}`, ""),
		fail("syntax/nan", `{"x":NaN}`, ""),
		fail("syntax/comment", `{/* c */}`, ""),
		fail("syntax/beats-type-mismatch", `{"KeyId":5,"x":}`, ""),

		// Nesting is bounded.
		{name: "depth/within-bound", body: deep(wire.MaxDepth - 1), want: enc(wire.EncryptRequest{})},
		fail("depth/beyond-bound", deep(wire.MaxDepth), ""),
		fail("depth/far-beyond-bound", deep(100000), ""),

		// Values of the wrong type keep today's message.
		fail("type/string-for-integer", `{"NumberOfBytes":"12"}`, "Unexpected value at 'NumberOfBytes'"),
		fail("type/fraction", `{"NumberOfBytes":1.5}`, "Unexpected value at 'NumberOfBytes'"),
		fail("type/exponent", `{"NumberOfBytes":1e2}`, "Unexpected value at 'NumberOfBytes'"),
		fail("type/int32-overflow", `{"NumberOfBytes":2147483648}`, "Unexpected value at 'NumberOfBytes'"),
		fail("type/int32-underflow", `{"NumberOfBytes":-2147483649}`, "Unexpected value at 'NumberOfBytes'"),
		fail("type/huge-number", `{"NumberOfBytes":123456789012345678901234567890}`, "Unexpected value at 'NumberOfBytes'"),
		{name: "type/int32-max", body: `{"NumberOfBytes":2147483647}`, want: &wire.GenerateRandomRequest{NumberOfBytes: wire.Ptr[int32](2147483647)}},
		{name: "type/int32-min", body: `{"NumberOfBytes":-2147483648}`, want: &wire.GenerateRandomRequest{NumberOfBytes: wire.Ptr[int32](-2147483648)}},
		{name: "type/negative-zero", body: `{"NumberOfBytes":-0}`, want: &wire.GenerateRandomRequest{NumberOfBytes: wire.Ptr[int32](0)}},
		fail("type/string-for-bool", `{"DryRun":"true"}`, "Unexpected value at 'DryRun'"),
		fail("type/number-for-string", `{"KeyId":5}`, "Unexpected value at 'KeyId'"),
		fail("type/number-for-blob", `{"Plaintext":5}`, "Unexpected value at 'Plaintext'"),
		fail("type/list-for-map", `{"EncryptionContext":[]}`, "Unexpected value at 'EncryptionContext'"),
		fail("type/number-in-map", `{"EncryptionContext":{"a":1}}`, "Unexpected value at 'EncryptionContext'"),
		fail("type/null-in-map", `{"EncryptionContext":{"a":null}}`, "Unexpected value at 'EncryptionContext'"),
		fail("type/number-in-list", `{"GrantTokens":["a",1]}`, "Unexpected value at 'GrantTokens'"),
		fail("type/null-in-list", `{"GrantTokens":[null]}`, "Unexpected value at 'GrantTokens'"),
		fail("type/object-for-list", `{"Tags":{}}`, "Unexpected value at 'Tags'"),
		fail("type/number-in-list-of-structures", `{"Tags":[1]}`, "Unexpected value at 'Tags'"),
		fail("type/null-in-list-of-structures", `{"Tags":[null]}`, "Unexpected value at 'Tags'"),
		fail("type/nested-member", `{"Tags":[{"TagKey":1}]}`, "Unexpected value at 'Tags.TagKey'"),
		fail("type/nested-structure", `{"Recipient":{"AttestationDocument":true}}`, "Unexpected value at 'Recipient.AttestationDocument'"),
		fail("type/number-for-structure", `{"Recipient":5}`, "Unexpected value at 'Recipient'"),
		fail("type/first-mismatch-wins", `{"KeyId":5,"DryRun":5}`, "Unexpected value at 'KeyId'"),
		fail("type/duplicate-beats-mismatch", `{"KeyId":5,"KeyId":5}`, ""),
		fail("type/bad-base64", `{"Plaintext":"!!"}`, ""),
		fail("type/string-timestamp", `{"ValidTo":"1700000000"}`, ""),
		{name: "type/timestamp", body: `{"ValidTo":1700000000.5}`, want: &wire.ImportKeyMaterialRequest{ValidTo: wire.NewTimestamp(time.UnixMilli(1700000000500).UTC())}},
	}
}

// target returns a new value of the shape a case decodes into.
func decodeTarget(tc decodeCase) (got any, err error) {
	body := tc.body
	switch {
	case tc.want != nil:
		switch tc.want.(type) {
		case *wire.CreateKeyRequest:
			return decodeAs[wire.CreateKeyRequest](body)
		case *wire.GenerateRandomRequest:
			return decodeAs[wire.GenerateRandomRequest](body)
		case *wire.ImportKeyMaterialRequest:
			return decodeAs[wire.ImportKeyMaterialRequest](body)
		}
	case strings.Contains(body, "Tags"):
		return decodeAs[wire.CreateKeyRequest](body)
	case strings.Contains(body, "Recipient"):
		return decodeAs[wire.DecryptRequest](body)
	case strings.Contains(body, "NumberOfBytes"):
		return decodeAs[wire.GenerateRandomRequest](body)
	case strings.Contains(body, "ValidTo"):
		return decodeAs[wire.ImportKeyMaterialRequest](body)
	}
	return decodeAs[wire.EncryptRequest](body)
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTarget(tc)
			if tc.wantErr {
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != "SerializationException" || we.Message != tc.wantMsg {
					t.Fatalf("err = %v, want SerializationException %q", err, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %s, want %s", show(got), show(tc.want))
			}
			if tc.foldsCase {
				return
			}
			// Where encoding/json is not misled, it binds the same value.
			std := reflect.New(reflect.TypeOf(got).Elem()).Interface()
			if strings.TrimSpace(tc.body) != "" {
				if err := json.Unmarshal([]byte(tc.body), std); err != nil {
					t.Fatalf("encoding/json: %v", err)
				}
			}
			if !reflect.DeepEqual(got, std) {
				t.Fatalf("got %s, encoding/json %s", show(got), show(std))
			}
		})
	}
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDecodeContextsDifferingInOneByte checks that encryption contexts are
// bound byte for byte: contexts that encoding/json collapsed ("\ud800" and
// "\udfff" both became U+FFFD) are now refused, and any two accepted
// contexts that differ in their bytes decode to different maps.
func TestDecodeContextsDifferingInOneByte(t *testing.T) {
	bodies := []string{
		`{"EncryptionContext":{"k":"\u00e9"}}`,
		`{"EncryptionContext":{"k":"\u00ea"}}`,
		`{"EncryptionContext":{"k":"e\u0301"}}`,
		`{"EncryptionContext":{"k":"\ufffd"}}`,
		`{"EncryptionContext":{"k\u0000":"v"}}`,
		`{"EncryptionContext":{"k":"v\u0000"}}`,
		`{"EncryptionContext":{"k":"v"}}`,
		`{"EncryptionContext":{"K":"v"}}`,
	}
	seen := map[string]string{}
	for _, body := range bodies {
		got, err := decodeAs[wire.EncryptRequest](body)
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		key := show(got.EncryptionContext)
		if prev, ok := seen[key]; ok {
			t.Errorf("%s and %s bind the same context %s", prev, body, key)
		}
		seen[key] = body
	}
	for _, body := range []string{`{"EncryptionContext":{"k":"\ud800"}}`, `{"EncryptionContext":{"k":"\udfff"}}`} {
		if _, err := decodeAs[wire.EncryptRequest](body); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}

// TestDecodeDoesNotKeepScratch checks that a decoded value does not alias
// the body or the decoder's scratch buffer: the caller wipes the body after
// the request.
func TestDecodeDoesNotAliasBody(t *testing.T) {
	body := []byte(`{"KeyId":"abc","EncryptionContext":{"k\u00e9":"v\n"},"GrantTokens":["t"],"Plaintext":"aGVsbG8="}`)
	var x wire.EncryptRequest
	if err := x.DecodeJSON(body); err != nil {
		t.Fatal(err)
	}
	clear(body)
	if *x.KeyId != "abc" || x.EncryptionContext["ké"] != "v\n" || x.GrantTokens[0] != "t" || string(x.Plaintext) != "hello" {
		t.Fatalf("decoded value changed with the body: %s", show(&x))
	}
}

// TestDecodeEveryOperation decodes an empty object and a body of only
// unknown members into every operation's input.
func TestDecodeEveryOperation(t *testing.T) {
	for name, op := range wire.Operations {
		if op.NewInput == nil {
			continue
		}
		in, ok := op.NewInput().(interface{ DecodeJSON([]byte) error })
		if !ok {
			t.Fatalf("%s: %T has no DecodeJSON", name, op.NewInput())
		}
		if err := in.DecodeJSON([]byte(`{"NoSuchMember":{"a":[1]}}`)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := in.DecodeJSON([]byte(`{"NoSuchMember":1,"NoSuchMember":2}`)); err == nil {
			t.Errorf("%s: duplicate accepted", name)
		}
	}
}

// memberNames returns every member name of t and the shapes it contains.
func memberNames(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(wire.Timestamp{}) {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if into[f.Name] {
			continue
		}
		into[f.Name] = true
		memberNames(f.Type, into)
	}
}

// foldsCase reports whether body has a string that equals a member name
// only when case is ignored: encoding/json would bind it, the decoder not.
func foldsCase(body []byte, names map[string]bool) bool {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return false
		}
		s, ok := tok.(string)
		if !ok || names[s] {
			continue
		}
		for n := range names {
			if strings.EqualFold(s, n) {
				return true
			}
		}
	}
}

// checkDecode is the fuzz oracle for one shape: the decoder never panics,
// fails only with SerializationException, accepts only strict, valid JSON,
// and where encoding/json is not misled by case it binds what encoding/json
// binds.
func checkDecode[T any, PT decodable[T]](t *testing.T, body []byte) {
	v := PT(new(T))
	err := v.DecodeJSON(body)
	stdV := PT(new(T))
	stdErr := json.Unmarshal(body, stdV)
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != "SerializationException" {
			t.Fatalf("%T: error %v is not a SerializationException", v, err)
		}
		return
	}
	if strings.TrimSpace(string(body)) == "" {
		return
	}
	if !json.Valid(body) {
		t.Fatalf("%T: accepted invalid JSON %q", v, body)
	}
	names := map[string]bool{}
	memberNames(reflect.TypeOf(v), names)
	if foldsCase(body, names) {
		return
	}
	if stdErr != nil {
		t.Fatalf("%T: accepted %q, encoding/json: %v", v, body, stdErr)
	}
	if !reflect.DeepEqual(v, stdV) {
		t.Fatalf("%T: %q decoded to %s, encoding/json %s", v, body, show(v), show(stdV))
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, tc := range decodeCases() {
		f.Add([]byte(tc.body))
	}
	for _, b := range benchBodies {
		f.Add([]byte(b.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode[wire.EncryptRequest](t, body)
		checkDecode[wire.DecryptRequest](t, body)
		checkDecode[wire.CreateKeyRequest](t, body)
		checkDecode[wire.ReEncryptRequest](t, body)
		checkDecode[wire.GenerateRandomRequest](t, body)
	})
}

var benchBodies = []struct{ name, body string }{
	{"EncryptRequest", `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","Plaintext":"` +
		strings.Repeat("QUJD", 64) + `","EncryptionContext":{"purpose":"bench","tenant":"acme"}}`},
	{"DecryptRequest", `{"CiphertextBlob":"` + strings.Repeat("AQIDAHh", 40) + `AA==","EncryptionContext":{"purpose":"bench","tenant":"acme"}}`},
	{"GenerateDataKeyRequest", `{"KeyId":"alias/app","KeySpec":"AES_256","EncryptionContext":{"purpose":"bench","tenant":"acme"}}`},
}

// BenchmarkDecode compares the generated decoder with encoding/json on the
// bodies of the hot operations.
func BenchmarkDecode(b *testing.B) {
	for _, bb := range benchBodies {
		body := []byte(bb.body)
		newIn := map[string]func() any{
			"EncryptRequest":         func() any { return new(wire.EncryptRequest) },
			"DecryptRequest":         func() any { return new(wire.DecryptRequest) },
			"GenerateDataKeyRequest": func() any { return new(wire.GenerateDataKeyRequest) },
		}[bb.name]
		b.Run(bb.name+"/wire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := newIn().(interface{ DecodeJSON([]byte) error }).DecodeJSON(body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bb.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := json.Unmarshal(body, newIn()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeManyUnknownMembers checks that duplicate detection stays linear
// and exact past the point where it switches from a list to a map.
func TestDecodeManyUnknownMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"x":{`)
	for i := range 50000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"m` + strconv.Itoa(i) + `":1`)
	}
	body := b.String()
	if _, err := decodeAs[wire.EncryptRequest](body + `}}`); err != nil {
		t.Fatalf("distinct names: %v", err)
	}
	for _, dup := range []string{"m3", "m20", "m49999"} {
		if _, err := decodeAs[wire.EncryptRequest](body + `,"` + dup + `":2}}`); err == nil {
			t.Errorf("duplicate %s accepted", dup)
		}
	}
}
