package wire_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/wire"
)

func TestTimestampJSON(t *testing.T) {
	cases := []struct {
		t    time.Time
		json string
	}{
		{time.UnixMilli(1700000000123), "1700000000.123"},
		{time.UnixMilli(1700000000100), "1700000000.1"},
		{time.Unix(1700000000, 0), "1700000000"},
		{time.UnixMilli(-1500), "-1.5"},
	}
	for _, c := range cases {
		b, err := json.Marshal(wire.NewTimestamp(c.t))
		if err != nil || string(b) != c.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", c.t, b, err, c.json)
		}
		var got wire.Timestamp
		if err := json.Unmarshal([]byte(c.json), &got); err != nil || !got.Time().Equal(c.t) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", c.json, got.Time(), err, c.t)
		}
	}
	// AWS sends numbers in any JSON form, such as 1.700000000123E9.
	var ts wire.Timestamp
	if err := json.Unmarshal([]byte("1.700000000123E9"), &ts); err != nil || ts.Time().UnixMilli() != 1700000000123 {
		t.Errorf("exponent form: %v, %v", ts.Time(), err)
	}
	for _, bad := range []string{`"1700000000"`, `true`, `1e300`} {
		if err := json.Unmarshal([]byte(bad), &ts); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
	if !(*wire.Timestamp)(nil).Time().IsZero() {
		t.Error("nil Timestamp is not the zero time")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	md := wire.DescribeKeyResponse{KeyMetadata: &wire.KeyMetadata{
		AWSAccountId:            wire.Ptr("111122223333"),
		KeyId:                   wire.Ptr("1234abcd-12ab-34cd-56ef-1234567890ab"),
		CreationDate:            wire.NewTimestamp(time.UnixMilli(1700000000123).UTC()),
		Enabled:                 wire.Ptr(true),
		KeyUsage:                wire.Ptr("ENCAPSULATE_DECAPSULATE"),
		KeySpec:                 wire.Ptr("ML_KEM_768"),
		EncryptionAlgorithms:    []string{"SYMMETRIC_DEFAULT"},
		EncapsulationAlgorithms: []string{"ML_KEM"},
		MultiRegionConfiguration: &wire.MultiRegionConfiguration{
			ReplicaKeys: []wire.MultiRegionKey{{Arn: wire.Ptr("arn:aws:kms:us-west-2:111122223333:key/mrk-1"), Region: wire.Ptr("us-west-2")}},
		},
	}}
	b, err := json.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","CreationDate":1700000000.123,"Enabled":true,"KeyUsage":"ENCAPSULATE_DECAPSULATE","KeySpec":"ML_KEM_768","EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"MultiRegionConfiguration":{"ReplicaKeys":[{"Arn":"arn:aws:kms:us-west-2:111122223333:key/mrk-1","Region":"us-west-2"}]},"EncapsulationAlgorithms":["ML_KEM"]}}`
	if string(b) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", b, want)
	}
	var back wire.DescribeKeyResponse
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.KeyMetadata.CreationDate.Time().Equal(md.KeyMetadata.CreationDate.Time()) {
		t.Errorf("CreationDate = %v", back.KeyMetadata.CreationDate.Time())
	}
	back.KeyMetadata.CreationDate, md.KeyMetadata.CreationDate = nil, nil
	if !reflect.DeepEqual(back, md) {
		t.Errorf("round trip = %+v, want %+v", back.KeyMetadata, md.KeyMetadata)
	}

	// Blobs are standard base64; encryption context is a map.
	var in wire.EncryptRequest
	body := `{"KeyId":"alias/a","Plaintext":"aGVsbG8=","EncryptionContext":{"k":"v"},"GrantTokens":["t"],"DryRun":false}`
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
	if string(in.Plaintext) != "hello" || in.EncryptionContext["k"] != "v" || wire.Value(in.DryRun) || in.DryRun == nil {
		t.Errorf("decoded %+v", in)
	}
	out, _ := json.Marshal(wire.EncryptResponse{CiphertextBlob: []byte{0xff, 0xfe}, KeyId: wire.Ptr("k")})
	if string(out) != `{"CiphertextBlob":"//4=","KeyId":"k"}` {
		t.Errorf("EncryptResponse = %s", out)
	}
	// An empty string decodes to a non-nil empty blob, so it fails the length
	// constraint rather than the null check, as on AWS.
	if err := json.Unmarshal([]byte(`{"CiphertextBlob":""}`), new(wire.DecryptRequest)); err != nil {
		t.Fatal(err)
	}
}

func TestPtrValue(t *testing.T) {
	if *wire.Ptr(int32(7)) != 7 || wire.Value[int32](nil) != 0 || wire.Value(wire.Ptr("x")) != "x" || wire.Value[string](nil) != "" {
		t.Error("Ptr/Value")
	}
}

func TestEnumValues(t *testing.T) {
	if !slices.Contains(wire.KeySpecValues, "ML_KEM_768") || !slices.Contains(wire.DataKeyPairSpecValues, "ML_KEM_1024") ||
		!slices.Contains(wire.KeyUsageTypeValues, "ENCAPSULATE_DECAPSULATE") || !slices.Equal(wire.EncapsulationAlgorithmSpecValues, []string{"ML_KEM"}) {
		t.Error("supplement enum values missing")
	}
	if wire.KeySpecValues[0] != "RSA_2048" || wire.MacAlgorithmSpecValues[0] != "HMAC_SHA_224" {
		t.Error("enum values are not in model order")
	}
}

func TestOperations(t *testing.T) {
	if len(wire.Operations) != 56 {
		t.Errorf("%d operations, want 56 (54 in the model + Encapsulate, Decapsulate)", len(wire.Operations))
	}
	enc := wire.Operations["Encrypt"]
	if enc.Name != "Encrypt" || enc.Input != "EncryptRequest" || enc.Output != "EncryptResponse" ||
		!slices.Contains(enc.Errors, "InvalidKeyUsageException") {
		t.Errorf("Encrypt = %+v", enc)
	}
	if _, ok := enc.NewInput().(*wire.EncryptRequest); !ok {
		t.Errorf("Encrypt NewInput = %T", enc.NewInput())
	}
	if op := wire.Operations["CreateAlias"]; op.Output != "" {
		t.Errorf("CreateAlias Output = %q, want empty", op.Output)
	}
	if op := wire.Operations["Decapsulate"]; op.Input != "DecapsulateRequest" || op.Output != "DecapsulateResponse" ||
		!slices.Contains(op.Errors, "InvalidCiphertextException") {
		t.Errorf("Decapsulate = %+v", op)
	}
}
