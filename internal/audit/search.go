package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Outcomes of a request, for [Filter.Outcome].
const (
	OutcomeSuccess = "success" // no errorCode
	OutcomeDenied  = "denied"  // AccessDeniedException (KMS), AccessDenied (IAM, STS)
	OutcomeFailed  = "failed"  // any other error, authentication failures included
)

// Filter selects records in [Search]. Zero fields match everything.
type Filter struct {
	// Key matches a key id, key ARN or alias name that appears in the
	// record's resources or, for a KMS record, in requestParameters keyId
	// or targetKeyId.
	Key string
	// Principal matches userIdentity.arn, accessKeyId or principalId.
	Principal string
	// Operation matches eventName, e.g. "Decrypt".
	Operation string
	// Outcome is one of OutcomeSuccess, OutcomeDenied, OutcomeFailed.
	Outcome string
	// Account matches userIdentity.accountId exactly: the account that
	// made the request. A request that did not authenticate has none.
	Account string
	// Since and Until bound eventTime: Since <= t < Until.
	Since, Until time.Time
}

type searchFields struct {
	UserIdentity struct {
		ARN         string `json:"arn"`
		AccessKeyID string `json:"accessKeyId"`
		PrincipalID string `json:"principalId"`
		AccountID   string `json:"accountId"`
	} `json:"userIdentity"`
	EventTime         string          `json:"eventTime"`
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	ErrorCode         string          `json:"errorCode"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	Resources         []Resource      `json:"resources"`
}

// Match reports whether the record line matches f.
func (f *Filter) Match(line []byte) (bool, error) {
	var r searchFields
	if err := json.Unmarshal(line, &r); err != nil {
		return false, err
	}
	return f.match(&r)
}

// match reports whether the parsed record r matches f.
func (f *Filter) match(r *searchFields) (bool, error) {
	if f.Account != "" && r.UserIdentity.AccountID != f.Account {
		return false, nil
	}
	if f.Operation != "" && !strings.EqualFold(r.EventName, f.Operation) {
		return false, nil
	}
	if f.Principal != "" && f.Principal != r.UserIdentity.ARN && f.Principal != r.UserIdentity.AccessKeyID && f.Principal != r.UserIdentity.PrincipalID {
		return false, nil
	}
	switch f.Outcome {
	case "":
	case OutcomeSuccess, OutcomeDenied, OutcomeFailed:
		if outcomeOf(r.ErrorCode) != f.Outcome {
			return false, nil
		}
	default:
		return false, fmt.Errorf("unknown outcome %q (want success, denied or failed)", f.Outcome)
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		t, err := time.Parse(time.RFC3339, r.EventTime)
		if err != nil {
			return false, nil
		}
		if !f.Since.IsZero() && t.Before(f.Since.Truncate(time.Second)) || !f.Until.IsZero() && !t.Before(f.Until) {
			return false, nil
		}
	}
	if f.Key != "" && !keyMatches(f.Key, r) {
		return false, nil
	}
	return true, nil
}

func keyMatches(key string, r *searchFields) bool {
	for _, res := range r.Resources {
		if res.ARN == key || strings.HasSuffix(res.ARN, "/"+key) || strings.HasSuffix(res.ARN, ":"+key) {
			return true
		}
	}
	if r.EventSource != SourceKMS {
		return false // keyId in the parameters of another service is not a key the request used
	}
	var p struct {
		KeyID       string `json:"keyId"`
		TargetKeyID string `json:"targetKeyId"`
	}
	if json.Unmarshal(r.RequestParameters, &p) == nil {
		return p.KeyID == key || p.TargetKeyID == key
	}
	return false
}

// Search calls fn with every record line in dir's log files, oldest first,
// that matches f.
func Search(dir string, f *Filter, fn func(line []byte) error) error {
	logs, err := listLogs(dir)
	if err != nil {
		return err
	}
	for _, name := range logs {
		if err := searchFile(filepath.Join(dir, name), f, fn); err != nil {
			return err
		}
	}
	return nil
}

func searchFile(path string, f *Filter, fn func([]byte) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if b := sc.Bytes(); len(b) > 0 && b[0] == 0 {
			// The zeros preallocated at the end of the file a node is
			// writing: no more records.
			break
		}
		ok, err := f.Match(sc.Bytes())
		if err != nil {
			return fmt.Errorf("%s:%d: %w", filepath.Base(path), n, err)
		}
		if ok {
			if err := fn(sc.Bytes()); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}
