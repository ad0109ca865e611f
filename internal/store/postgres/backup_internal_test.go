package postgres

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

// FuzzParseBackup: a backup file either parses into tables that cover its
// body exactly, or is refused with no result.
func FuzzParseBackup(f *testing.F) {
	body := backupMagic + `{"schema_version":1,"created_at":"2026-01-01T00:00:00Z","tables":[{"name":"meta","columns":["name","value"],"rows":1,"bytes":8}]}` + "\n" + "a\t\\\\x01\n"
	good := body + fmt.Sprintf("sha256 %x\n", sha256.Sum256([]byte(body)))
	f.Add([]byte(good))
	f.Add([]byte(backupMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, data, err := parseBackup(b)
		if err != nil {
			if hdr != nil || data != nil {
				t.Fatal("error with a result")
			}
			return
		}
		if len(data) != len(hdr.Tables) {
			t.Fatalf("%d tables, %d data", len(hdr.Tables), len(data))
		}
		for i, d := range data {
			if len(d) != hdr.Tables[i].Bytes {
				t.Fatalf("table %d: %d bytes, header says %d", i, len(d), hdr.Tables[i].Bytes)
			}
		}
	})
}

func TestParseBackupSeed(t *testing.T) {
	body := backupMagic + `{"schema_version":1,"created_at":"2026-01-01T00:00:00Z","tables":[{"name":"meta","columns":["name","value"],"rows":1,"bytes":8}]}` + "\n" + "a\t\\\\x01\n"
	good := body + fmt.Sprintf("sha256 %x\n", sha256.Sum256([]byte(body)))
	hdr, data, err := parseBackup([]byte(good))
	if err != nil || len(hdr.Tables) != 1 || string(data[0]) != "a\t\\\\x01\n" {
		t.Fatalf("parseBackup = %+v, %q, %v", hdr, data, err)
	}
	for _, bad := range []string{good[:len(good)-1], good + "x", "X" + good[1:], body + "sha256 00\n"} {
		if _, _, err := parseBackup([]byte(bad)); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}
