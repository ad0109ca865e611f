package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/usage"
	"github.com/trent-kms/trent/internal/wire"
)

// Trent's audit and usage queries, for the console and any SigV4 client
// (docs/audit.md, "Searching over the API"). They are TrentAdmin
// operations like the account administration in admin.go:
//
//	TrentAdmin.SearchAudit      trent:SearchAudit
//	TrentAdmin.GetRequestCounts trent:GetRequestCounts
//	TrentAdmin.GetUsageReport   trent:GetUsageReport
//
// Authorization: the action goes through the policy engine like
// kms:ListKeys (no resource; identity policies only, so an account's root
// is allowed and an IAM user or role needs an identity policy that allows
// the trent: action). Scope: a caller sees the records, counts and usage
// of its own account only — the records whose userIdentity.accountId is
// its account, i.e. the requests its principals made. Only the management
// account may name another account in AccountId, or "*" for every record
// (requests that did not authenticate included): it administers the
// accounts (TrentAdmin.CreateAccount) and so already holds their root
// keys. A key owner does not see other accounts' requests with its keys
// (CloudTrail would show them to both accounts): the strict choice, so
// that no record of account B ever reaches a principal of account A.
//
// The answers are read from this node's audit directory (docs/audit.md);
// in a cluster each node has its own, so they cover the requests this
// node served. A node without audit files (--dev, audit_disabled) answers
// UnsupportedOperationException. Records hold no secrets by construction
// (audit.Record), and these operations return nothing else.

// adminQueryTargets are the query operations.
var adminQueryTargets = map[string]bool{
	adminPrefix + "SearchAudit": true, adminPrefix + "GetRequestCounts": true, adminPrefix + "GetUsageReport": true,
}

// maxRunningQueries is how many queries a node runs at a time (they read
// and parse files, and the node has other work); another one is answered
// ThrottlingException, which SDKs retry with backoff, rather than queued.
const maxRunningQueries = 2

// Limits of the query operations.
const (
	defaultSearchLimit = 50
	maxSearchLimit     = 1000 // as ListKeys' Limit
	maxCountBuckets    = 1440 // a day of minutes
	maxFilterLength    = 2048 // as KeyIdType
)

type searchAuditRequest struct {
	KeyId     string
	Principal string
	Operation string
	Outcome   string
	StartTime *float64 // seconds since the epoch, as KMS dates
	EndTime   *float64
	AccountId string
	Limit     *int
	Marker    string
}

type searchAuditResponse struct {
	Records    []json.RawMessage
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

type requestCountsRequest struct {
	KeyId     string
	Principal string
	Operation string
	StartTime *float64
	EndTime   *float64
	Period    *int // seconds
	AccountId string
}

type datapoint struct {
	Timestamp   float64
	EventSource string
	Operation   string
	Outcome     string
	Count       int64
}

type groupCount struct {
	KeyArn    string `json:",omitempty"`
	AccountId string `json:",omitempty"`
	Success   int64
	Denied    int64
	Failed    int64
}

type requestCountsResponse struct {
	StartTime  float64
	EndTime    float64
	Period     int
	Datapoints []datapoint
	Keys       []groupCount
	Accounts   []groupCount
}

type usageReportRequest struct {
	Month     string
	AccountId string
}

type usageReportResponse struct {
	Report *usage.Report
}

// adminParams returns the requestParameters of a query's audit record:
// the request's members that are set, with their names' first letter in
// lower case as CloudTrail writes them (the request holds no secret).
func adminParams(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	out := map[string]any{}
	for k, v := range m {
		if v == nil || v == "" {
			continue
		}
		out[strings.ToLower(k[:1])+k[1:]] = v
	}
	if len(out) == 0 {
		return nil
	}
	b, _ = json.Marshal(out)
	return b
}

// adminQuery authenticates and performs one query operation. It returns
// the caller (nil when authentication failed), the response and the
// requestParameters of the call's audit record.
func (h *Handler) adminQuery(ctx context.Context, r *http.Request, target string, body []byte) (*kms.Caller, any, json.RawMessage, error) {
	kc, err := h.authenticate(ctx, r, body)
	if err != nil {
		return nil, nil, nil, err
	}
	select {
	case h.queries <- struct{}{}:
		defer func() { <-h.queries }()
	default:
		return kc, nil, nil, errThrottled
	}
	out, params, err := h.adminQueryAs(ctx, kc, target, body)
	return kc, out, params, err
}

func (h *Handler) adminQueryAs(ctx context.Context, kc *kms.Caller, target string, body []byte) (any, json.RawMessage, error) {
	switch target {
	case adminPrefix + "SearchAudit":
		var in searchAuditRequest
		if err := decodeAdmin(body, &in); err != nil {
			return nil, nil, err
		}
		params := adminParams(in)
		out, err := h.searchAudit(ctx, kc, &in)
		return out, params, err
	case adminPrefix + "GetRequestCounts":
		var in requestCountsRequest
		if err := decodeAdmin(body, &in); err != nil {
			return nil, nil, err
		}
		params := adminParams(in)
		out, err := h.requestCounts(ctx, kc, &in)
		return out, params, err
	default:
		var in usageReportRequest
		if err := decodeAdmin(body, &in); err != nil {
			return nil, nil, err
		}
		params := adminParams(in)
		out, err := h.usageReport(ctx, kc, &in)
		return out, params, err
	}
}

func decodeAdmin(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return wire.Errorf("SerializationException", "Malformed request body.")
	}
	return nil
}

// validation collects a request's constraint failures, reported as the
// generated validators report them (internal/wire/validate.go).
type validation []string

func (v *validation) fail(value, member, constraint string) {
	*v = append(*v, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

func (v *validation) length(value, member string, max int) {
	if len(value) > max {
		v.fail(value, member, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

func (v validation) err() error {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return wire.Errorf("ValidationException", "1 validation error detected: %s", v[0])
	}
	msg := fmt.Sprintf("%d validation errors detected: %s", len(v), v[0])
	for _, m := range v[1:] {
		msg += "; " + m
	}
	return wire.Errorf("ValidationException", "%s", msg)
}

var accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// timeArg converts a KMS date (seconds since the epoch) to a time.
func timeArg(v *float64, member string, vd *validation) time.Time {
	if v == nil {
		return time.Time{}
	}
	if math.IsNaN(*v) || *v < 0 || *v > 253402300799 { // 9999-12-31T23:59:59Z
		vd.fail(strconv.FormatFloat(*v, 'f', -1, 64), member, "Member must be a date between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
		return time.Time{}
	}
	sec, frac := math.Modf(*v)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// filterArgs validates the filter members shared by the queries.
func filterArgs(vd *validation, key, principal, operation, account string) {
	vd.length(key, "keyId", maxFilterLength)
	vd.length(principal, "principal", maxFilterLength)
	vd.length(operation, "operation", 128)
	if account != "" && account != "*" && !accountIDPattern.MatchString(account) {
		vd.fail(account, "accountId", "Member must satisfy regular expression pattern: [0-9]{12}|\\*")
	}
}

// authorizeQuery authorizes the action and resolves the account whose
// records the caller may read: its own unless it names another, which
// only the management account may ("" for every account).
func (h *Handler) authorizeQuery(ctx context.Context, kc *kms.Caller, action, requested string) (string, error) {
	if err := h.svc.AuthorizeAdmin(ctx, kc, action); err != nil {
		return "", err
	}
	if requested == "" || requested == kc.AccountID {
		return kc.AccountID, nil
	}
	if h.iam == nil || kc.AccountID != h.iam.ManagementAccount() {
		return "", &wire.Error{Code: "AccessDeniedException",
			Message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: arn:aws:iam::%s:root because only the management account may read the records of another account",
				kc.Identity.ARN, action, requested),
			Err: fmt.Errorf("%s of account %s by account %s", action, requested, kc.AccountID)}
	}
	if requested == "*" {
		return "", nil
	}
	return requested, nil
}

// auditDir returns the node's audit directory, or the error of a node
// that keeps none.
func (h *Handler) auditDir() (string, error) {
	if h.audit == nil || h.audit.Dir() == "" {
		return "", wire.Errorf("UnsupportedOperationException", "This node keeps no audit files (a --dev server, or audit_disabled), so its audit trail cannot be searched.")
	}
	return h.audit.Dir(), nil
}

func (h *Handler) searchAudit(ctx context.Context, kc *kms.Caller, in *searchAuditRequest) (*searchAuditResponse, error) {
	var vd validation
	filterArgs(&vd, in.KeyId, in.Principal, in.Operation, in.AccountId)
	switch in.Outcome {
	case "", audit.OutcomeSuccess, audit.OutcomeDenied, audit.OutcomeFailed:
	default:
		vd.fail(in.Outcome, "outcome", "Member must satisfy enum value set: [success, denied, failed]")
	}
	limit := defaultSearchLimit
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > maxSearchLimit {
			vd.fail(strconv.Itoa(limit), "limit", fmt.Sprintf("Member must have value between 1 and %d", maxSearchLimit))
		}
	}
	since, until := timeArg(in.StartTime, "startTime", &vd), timeArg(in.EndTime, "endTime", &vd)
	if err := vd.err(); err != nil {
		return nil, err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return nil, wire.Errorf("ValidationException", "EndTime must be later than StartTime.")
	}
	var before uint64
	if in.Marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.Marker)
		if err == nil {
			before, err = strconv.ParseUint(string(b), 10, 64)
		}
		if err != nil || before == 0 {
			return nil, wire.Errorf("InvalidMarkerException", "Invalid marker")
		}
	}
	account, err := h.authorizeQuery(ctx, kc, "trent:SearchAudit", in.AccountId)
	if err != nil {
		return nil, err
	}
	dir, err := h.auditDir()
	if err != nil {
		return nil, err
	}
	f := &audit.Filter{Key: in.KeyId, Principal: in.Principal, Operation: in.Operation, Outcome: in.Outcome, Account: account, Since: since, Until: until}
	page, err := audit.Latest(ctx, dir, f, before, limit)
	if err != nil {
		return nil, queryError("search the audit trail", err)
	}
	out := &searchAuditResponse{Records: page.Records, Truncated: page.More}
	if out.Records == nil {
		out.Records = []json.RawMessage{}
	}
	if page.More {
		out.NextMarker = base64.RawURLEncoding.EncodeToString(strconv.AppendUint(nil, page.Sequences[len(page.Sequences)-1], 10))
	}
	return out, nil
}

func (h *Handler) requestCounts(ctx context.Context, kc *kms.Caller, in *requestCountsRequest) (*requestCountsResponse, error) {
	var vd validation
	filterArgs(&vd, in.KeyId, in.Principal, in.Operation, in.AccountId)
	period := 300
	if in.Period != nil {
		period = *in.Period
		if period < 60 || period%60 != 0 || period > 86400 {
			vd.fail(strconv.Itoa(period), "period", "Member must be a multiple of 60 between 60 and 86400")
		}
	}
	since, until := timeArg(in.StartTime, "startTime", &vd), timeArg(in.EndTime, "endTime", &vd)
	if err := vd.err(); err != nil {
		return nil, err
	}
	if until.IsZero() {
		until = time.Now().UTC()
	}
	if since.IsZero() {
		since = until.Add(-time.Hour)
	}
	p := time.Duration(period) * time.Second
	since = since.Truncate(p) // periods start on multiples of the period since the epoch
	if !until.After(since) {
		return nil, wire.Errorf("ValidationException", "EndTime must be later than StartTime.")
	}
	// The number of periods, rounded up without adding to the range: a
	// range of more than 292 years saturates time.Duration, and adding to
	// it overflowed to a negative count that passed the bound.
	d := until.Sub(since)
	n := d / p
	if d%p != 0 {
		n++
	}
	if n > maxCountBuckets {
		return nil, wire.Errorf("ValidationException", "The time range holds %d periods of %d seconds; the most is %d. Choose a longer Period or a shorter range.", n, period, maxCountBuckets)
	}
	account, err := h.authorizeQuery(ctx, kc, "trent:GetRequestCounts", in.AccountId)
	if err != nil {
		return nil, err
	}
	dir, err := h.auditDir()
	if err != nil {
		return nil, err
	}
	f := &audit.Filter{Key: in.KeyId, Principal: in.Principal, Operation: in.Operation, Account: account, Since: since, Until: until}
	t, err := audit.CountRequests(ctx, dir, f, p)
	if err != nil {
		return nil, queryError("count requests in the audit trail", err)
	}
	out := &requestCountsResponse{StartTime: epoch(since), EndTime: epoch(until), Period: period,
		Datapoints: []datapoint{}, Keys: []groupCount{}, Accounts: []groupCount{}}
	for _, pt := range t.Points {
		out.Datapoints = append(out.Datapoints, datapoint{Timestamp: epoch(pt.Time), EventSource: pt.Source, Operation: pt.Operation, Outcome: pt.Outcome, Count: pt.Count})
	}
	for _, g := range t.Keys {
		out.Keys = append(out.Keys, groupCount{KeyArn: g.Name, Success: g.Success, Denied: g.Denied, Failed: g.Failed})
	}
	for _, g := range t.Accounts {
		out.Accounts = append(out.Accounts, groupCount{AccountId: g.Name, Success: g.Success, Denied: g.Denied, Failed: g.Failed})
	}
	return out, nil
}

// queryError is the answer to a query that failed: one that ran out of
// its time (opTimeout) is DependencyTimeoutException, which SDKs retry,
// with advice; anything else is internal.
func queryError(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &wire.Error{Code: "DependencyTimeoutException",
			Message: "The audit trail could not be read in time. Narrow the time range (StartTime, EndTime) and retry.", Err: fmt.Errorf("%s: %w", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

var monthPattern = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

func (h *Handler) usageReport(ctx context.Context, kc *kms.Caller, in *usageReportRequest) (*usageReportResponse, error) {
	var vd validation
	filterArgs(&vd, "", "", "", in.AccountId)
	now := time.Now().UTC()
	month := in.Month
	if month == "" {
		month = now.Format("2006-01")
	} else if !monthPattern.MatchString(month) {
		vd.fail(month, "month", "Member must satisfy regular expression pattern: [0-9]{4}-(0[1-9]|1[0-2])")
	}
	if err := vd.err(); err != nil {
		return nil, err
	}
	start, err := usage.ParseMonth(month)
	if err != nil {
		return nil, wire.Errorf("ValidationException", "%s", err.Error())
	}
	if !now.After(start) {
		return nil, wire.Errorf("ValidationException", "Month %s has not begun.", month)
	}
	account, err := h.authorizeQuery(ctx, kc, "trent:GetUsageReport", in.AccountId)
	if err != nil {
		return nil, err
	}
	dir, err := h.auditDir()
	if err != nil {
		return nil, err
	}
	rep, err := usage.Build(ctx, usage.Input{Store: h.store, Regions: h.svc.Regions(), AuditDir: dir, Month: start, Now: now, Account: account})
	if err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	if account != "" {
		rep = rep.ForAccount(account)
	}
	return &usageReportResponse{Report: rep}, nil
}
