package usage

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/audit"
	"github.com/trent-kms/trent/internal/store"
)

// Input is what a report is made from.
type Input struct {
	// Store holds the current keys: their creation dates, specs, managers,
	// deletion state and material versions. Nil reports from the audit
	// trail alone.
	Store store.Store
	// Regions are the regions whose keys are read from Store; the regions
	// named in the audit trail are added.
	Regions []string
	// AuditDir is the audit directory (docs/audit.md).
	AuditDir string
	// Month is the first instant of the month, in UTC.
	Month time.Time
	// Now is when the report is made: hours after it are not counted.
	Now time.Time
	// Prices is the price table; nil means DefaultPrices.
	Prices *Prices
	// Account, when set, reads only that account's keys from Store (the
	// report's other rows are then incomplete: see [Report.ForAccount]).
	Account string
}

// ParseMonth parses "2026-11" as the first instant of that month in UTC.
func ParseMonth(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("month %q: want YYYY-MM", s)
	}
	return t, nil
}

// Report is the usage and cost of one month.
type Report struct {
	Month        string         `json:"month"` // "2026-11"
	Start        time.Time      `json:"start"`
	End          time.Time      `json:"end"`          // exclusive: the first instant of the next month
	Until        time.Time      `json:"until"`        // End, or the report's time if earlier
	HoursInMonth int64          `json:"hoursInMonth"` // a key present all month has this many key-hours
	Currency     string         `json:"currency"`
	Keys         []KeyUsage     `json:"keys"`
	Accounts     []AccountTotal `json:"accounts"`
	Total        Money          `json:"total"`
}

// KeyUsage is one account's usage of one key: the key-hours when the
// account owns the key, and the requests the account made with it.
// KeyARN is "" for requests that name no key (ListKeys, GenerateRandom).
type KeyUsage struct {
	AccountID  string `json:"accountId"`
	KeyARN     string `json:"keyArn"`
	Kind       string `json:"kind,omitempty"`    // KindSymmetric, KindAsymmetric, KindHMAC; "" when unknown
	KeySpec    string `json:"keySpec,omitempty"` // "" when unknown
	KeyManager string `json:"keyManager,omitempty"`
	// KeyHours counts the clock hours (UTC) in which the key was billable
	// for any part; RotationHours adds those of each billed rotation.
	KeyHours      int64            `json:"keyHours"`
	RotationHours int64            `json:"rotationHours"`
	Requests      map[string]int64 `json:"requests"` // by class, every class present
	KeyCost       Money            `json:"keyCost"`
	RotationCost  Money            `json:"rotationCost"`
	RequestCost   Money            `json:"requestCost"` // before the free tier, which is per account
	Note          string           `json:"note,omitempty"`
}

// AccountTotal sums an account's rows and applies the free tier.
type AccountTotal struct {
	AccountID      string           `json:"accountId"`
	KeyHours       int64            `json:"keyHours"`
	RotationHours  int64            `json:"rotationHours"`
	Requests       map[string]int64 `json:"requests"`
	FreeRequests   int64            `json:"freeRequests"` // requests the free tier covered
	KeyCost        Money            `json:"keyCost"`
	RotationCost   Money            `json:"rotationCost"`
	RequestCost    Money            `json:"requestCost"`
	FreeTierCredit Money            `json:"freeTierCredit"`
	Total          Money            `json:"total"`
}

// Money is an exact amount, printed with six decimals.
type Money struct{ r *big.Rat }

// Rat returns the amount as a new rational.
func (m Money) Rat() *big.Rat {
	if m.r == nil {
		return new(big.Rat)
	}
	return new(big.Rat).Set(m.r)
}

// String returns the amount rounded to six decimals (halves away from zero).
func (m Money) String() string { return m.Rat().FloatString(6) }

// MarshalJSON writes the amount as a JSON number with six decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

func (m Money) add(o Money) Money { return Money{new(big.Rat).Add(m.Rat(), o.Rat())} }

// keyInfo is what the store and the audit trail tell about a key.
type keyInfo struct {
	arn, account      string
	spec, manager     string
	created           time.Time
	createdKnown      bool
	end               time.Time // billing stops (deletion scheduled and not cancelled); zero: still billed
	rotations         []time.Time
	inStore, deletion bool // deletion: end comes from a deletion schedule
}

// trailKey is what the audit trail tells about a key.
type trailKey struct {
	spec, manager string
	created       time.Time
	pending       time.Time // last ScheduleKeyDeletion not followed by CancelKeyDeletion
	rotations     []time.Time
}

// record holds the members of an audit record that the report reads.
type record struct {
	UserIdentity struct {
		AccountID string `json:"accountId"`
	} `json:"userIdentity"`
	EventTime         string `json:"eventTime"`
	EventSource       string `json:"eventSource"`
	EventName         string `json:"eventName"`
	AWSRegion         string `json:"awsRegion"`
	ErrorCode         string `json:"errorCode"`
	RequestParameters *struct {
		KeyPairSpec string `json:"keyPairSpec"`
	} `json:"requestParameters"`
	ResponseElements *struct {
		KeyMetadata *struct {
			ARN                   string `json:"arn"`
			KeySpec               string `json:"keySpec"`
			CustomerMasterKeySpec string `json:"customerMasterKeySpec"`
			KeyManager            string `json:"keyManager"`
		} `json:"keyMetadata"`
	} `json:"responseElements"`
	Resources []audit.Resource `json:"resources"`
}

// request is one billed request.
type request struct {
	account, arn, op, pairSpec string
}

// cryptoOps are the operations whose requests are priced by the key they
// use: "requests to APIs such as Sign, Verify, Encrypt, Decrypt, and
// GetPublicKey that reference asymmetric KMS keys" (AWS KMS pricing).
// Every other request (key management, listing) is a symmetric-class
// request whatever the key: inferred, the pricing page names no other
// price for them.
var cryptoOps = map[string]bool{
	"Encrypt": true, "Decrypt": true, "ReEncrypt": true, "Sign": true, "Verify": true, "GetPublicKey": true,
	"GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true, "GenerateMac": true, "VerifyMac": true,
	"DeriveSharedSecret": true,
}

// Build makes the report of in.Month.
//
// Key-hours: a customer managed key is billed from its creation until a
// deletion is scheduled; "There is no charge for customer managed KMS keys
// that you manage and are scheduled for deletion. If you cancel the
// deletion during the waiting period, the customer managed KMS key will
// incur charges as though it was never scheduled for deletion" (AWS KMS
// pricing). So the actual deletion, which the server's deleter makes at
// the key's DeletionDate without an audit record, does not matter: the
// billed time ends at the last ScheduleKeyDeletion that no
// CancelKeyDeletion followed. The creation date and the deletion state
// come from the store for current keys and from the audit trail's
// CreateKey, ScheduleKeyDeletion and CancelKeyDeletion records for keys
// already deleted. Rotations are the key's material versions after the
// first (their creation dates), or RotateKeyOnDemand records for deleted
// keys.
//
// Requests: every successful KMS request in the month (no errorCode),
// charged to the caller's account — "When you use a KMS key in a different
// AWS account, the AWS account that makes the API request is charged for
// the key use" (AWS KMS pricing). Failed, denied and throttled requests
// are not counted (inferred: AWS does not say).
func Build(ctx context.Context, in Input) (*Report, error) {
	prices := in.Prices
	if prices == nil {
		prices = DefaultPrices()
	}
	start := in.Month.UTC()
	if start.Day() != 1 || start.Truncate(time.Hour) != start || start.Hour() != 0 {
		return nil, errors.New("usage: Month must be the first instant of a month")
	}
	end := start.AddDate(0, 1, 0)
	until := end
	if in.Now.Before(until) {
		until = in.Now.UTC()
	}
	if !until.After(start) {
		return nil, fmt.Errorf("usage: %s has not begun", start.Format("2006-01"))
	}

	trail, reqs, regions, err := readTrail(in.AuditDir, start, until)
	if err != nil {
		return nil, err
	}
	keys := map[string]*keyInfo{}
	if in.Store != nil {
		regions = append(regions, in.Regions...)
		slices.Sort(regions)
		if err := readStore(ctx, in.Store, slices.Compact(regions), in.Account, keys); err != nil {
			return nil, err
		}
	}
	for arn, t := range trail {
		k, ok := keys[arn]
		if ok {
			// The store is authoritative for current keys; the trail
			// dates a deletion schedule to the second.
			if !k.end.IsZero() && !t.pending.IsZero() {
				k.end = t.pending
			}
			continue
		}
		k = &keyInfo{arn: arn, account: arnAccount(arn), spec: t.spec, manager: t.manager, created: t.created,
			createdKnown: !t.created.IsZero(), end: t.pending, deletion: !t.pending.IsZero(), rotations: t.rotations}
		if t.created.IsZero() && t.pending.IsZero() && len(t.rotations) == 0 {
			continue // seen only in requests: nothing to bill by the hour
		}
		keys[arn] = k
	}

	rows := map[[2]string]*KeyUsage{}
	row := func(account, arn string) *KeyUsage {
		r, ok := rows[[2]string{account, arn}]
		if !ok {
			r = &KeyUsage{AccountID: account, KeyARN: arn, Requests: map[string]int64{}}
			for _, c := range Classes {
				r.Requests[c] = 0
			}
			if k := keys[arn]; k != nil {
				r.KeySpec, r.KeyManager, r.Kind = k.spec, k.manager, kindOf(k.spec)
			} else if t := trail[arn]; t != nil {
				r.KeySpec, r.KeyManager, r.Kind = t.spec, t.manager, kindOf(t.spec)
			}
			rows[[2]string{account, arn}] = r
		}
		return r
	}
	for _, k := range keys {
		from := k.created
		if !k.createdKnown {
			from = start
		}
		to := until
		if !k.end.IsZero() && k.end.Before(to) {
			to = k.end
		}
		h := hours(from, to, start)
		if h == 0 {
			continue
		}
		r := row(k.account, k.arn)
		r.KeyHours = h
		if !k.createdKnown {
			r.Note = "created before the audit trail and not in the store: billed from the start of the month"
		}
		rot := slices.Clone(k.rotations)
		slices.SortFunc(rot, time.Time.Compare)
		for i, t := range rot {
			if i >= prices.BilledRotations {
				break
			}
			r.RotationHours += hours(t, to, start)
		}
	}
	for _, q := range reqs {
		r := row(q.account, q.arn)
		r.Requests[classOf(q, keys, trail)]++
	}

	rep := &Report{Month: start.Format("2006-01"), Start: start, End: end, Until: until,
		HoursInMonth: int64(end.Sub(start) / time.Hour), Currency: prices.Currency}
	monthHours := big.NewRat(rep.HoursInMonth, 1)
	for _, r := range rows {
		if r.KeyHours > 0 {
			kind := r.Kind
			if kind == "" {
				kind = KindSymmetric // inferred: the default key spec
			}
			if r.KeyManager == "AWS" {
				kind = KindAWSManaged
			}
			r.KeyCost = Money{perMonth(prices.KeyMonth[kind], r.KeyHours, monthHours)}
			if kind != KindAWSManaged {
				r.RotationCost = Money{perMonth(prices.RotationMonth, r.RotationHours, monthHours)}
			}
		}
		var cost big.Rat
		for c, n := range r.Requests {
			cost.Add(&cost, per10000(prices.Requests[c], n))
		}
		r.RequestCost = Money{&cost}
		rep.Keys = append(rep.Keys, *r)
	}
	slices.SortFunc(rep.Keys, func(a, b KeyUsage) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.KeyARN, b.KeyARN))
	})
	rep.Accounts = totals(rep.Keys, prices)
	var total Money
	for _, a := range rep.Accounts {
		total = total.add(a.Total)
	}
	rep.Total = total
	return rep, nil
}

// totals sums rows by account and applies the free tier: the first
// FreeRequests requests of the free tier classes, in the order the price
// table lists them, are not charged.
func totals(rows []KeyUsage, p *Prices) []AccountTotal {
	var out []AccountTotal
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].AccountID != r.AccountID {
			a := AccountTotal{AccountID: r.AccountID, Requests: map[string]int64{}}
			for _, c := range Classes {
				a.Requests[c] = 0
			}
			out = append(out, a)
		}
		a := &out[len(out)-1]
		a.KeyHours += r.KeyHours
		a.RotationHours += r.RotationHours
		for c, n := range r.Requests {
			a.Requests[c] += n
		}
		a.KeyCost = a.KeyCost.add(r.KeyCost)
		a.RotationCost = a.RotationCost.add(r.RotationCost)
		a.RequestCost = a.RequestCost.add(r.RequestCost)
	}
	for i := range out {
		a := &out[i]
		left := p.FreeRequests
		credit := new(big.Rat)
		for _, c := range p.FreeTierClasses {
			n := min(left, a.Requests[c])
			left -= n
			a.FreeRequests += n
			credit.Add(credit, per10000(p.Requests[c], n))
		}
		a.FreeTierCredit = Money{credit}
		t := new(big.Rat).Add(a.KeyCost.Rat(), a.RotationCost.Rat())
		t.Add(t, a.RequestCost.Rat())
		a.Total = Money{t.Sub(t, credit)}
	}
	return out
}

func perMonth(p Price, hours int64, monthHours *big.Rat) *big.Rat {
	r := new(big.Rat).Mul(p.Rat(), big.NewRat(hours, 1))
	return r.Quo(r, monthHours)
}

func per10000(p Price, n int64) *big.Rat {
	r := new(big.Rat).Mul(p.Rat(), big.NewRat(n, 1))
	return r.Quo(r, big.NewRat(10000, 1))
}

// hours counts the clock hours (UTC) of the month starting at start in
// which [from, to) has any part. AWS prorates the monthly key price
// hourly; that a started hour counts whole is inferred.
func hours(from, to, start time.Time) int64 {
	if from.Before(start) {
		from = start
	}
	if !to.After(from) {
		return 0
	}
	a := from.Truncate(time.Hour)
	b := to.Truncate(time.Hour)
	if b.Before(to) {
		b = b.Add(time.Hour)
	}
	return int64(b.Sub(a) / time.Hour)
}

func kindOf(spec string) string {
	switch {
	case spec == "":
		return ""
	case spec == "SYMMETRIC_DEFAULT":
		return KindSymmetric
	case strings.HasPrefix(spec, "HMAC_"):
		return KindHMAC
	}
	return KindAsymmetric
}

// classOf returns the pricing class of a request.
func classOf(q request, keys map[string]*keyInfo, trail map[string]*trailKey) string {
	if q.op == "GenerateDataKeyPair" || q.op == "GenerateDataKeyPairWithoutPlaintext" {
		if strings.HasPrefix(q.pairSpec, "RSA_") {
			return ClassPairRSA
		}
		return ClassPairECC // ECC_NIST_*, ECC_SECG_P256K1, SM2
	}
	if !cryptoOps[q.op] {
		return ClassSymmetric
	}
	spec := ""
	if k := keys[q.arn]; k != nil {
		spec = k.spec
	} else if t := trail[q.arn]; t != nil {
		spec = t.spec
	}
	switch {
	case spec == "RSA_2048":
		return ClassRSA2048
	case kindOf(spec) == KindAsymmetric:
		return ClassAsymmetric
	}
	return ClassSymmetric // symmetric, HMAC, or unknown (inferred: the default spec)
}

// readTrail reads every KMS record of the audit directory: key lifecycle
// events up to until, and the successful requests in [start, until). It
// returns the regions the records name.
func readTrail(dir string, start, until time.Time) (map[string]*trailKey, []request, []string, error) {
	trail := map[string]*trailKey{}
	var reqs []request
	regions := map[string]bool{}
	get := func(arn string) *trailKey {
		t := trail[arn]
		if t == nil {
			t = &trailKey{}
			trail[arn] = t
		}
		return t
	}
	err := audit.Search(dir, &audit.Filter{}, func(line []byte) error {
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		if r.EventSource != audit.SourceKMS || r.ErrorCode != "" || r.UserIdentity.AccountID == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339, r.EventTime)
		if err != nil {
			return fmt.Errorf("eventTime %q: %w", r.EventTime, err)
		}
		if !t.Before(until) {
			return nil
		}
		regions[r.AWSRegion] = true
		arn := ""
		for _, res := range r.Resources {
			if res.Type == "AWS::KMS::Key" {
				arn = res.ARN
				break
			}
		}
		switch r.EventName {
		case "CreateKey":
			k := get(arn)
			k.created = t
			if r.ResponseElements != nil && r.ResponseElements.KeyMetadata != nil {
				m := r.ResponseElements.KeyMetadata
				k.spec, k.manager = cmp.Or(m.KeySpec, m.CustomerMasterKeySpec), m.KeyManager
			}
		case "ScheduleKeyDeletion":
			get(arn).pending = t
		case "CancelKeyDeletion":
			get(arn).pending = time.Time{}
		case "RotateKeyOnDemand":
			k := get(arn)
			k.rotations = append(k.rotations, t)
		}
		if t.Before(start) {
			return nil
		}
		q := request{account: r.UserIdentity.AccountID, arn: arn, op: r.EventName}
		if r.RequestParameters != nil {
			q.pairSpec = r.RequestParameters.KeyPairSpec
		}
		reqs = append(reqs, q)
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("usage: read the audit trail: %w", err)
	}
	delete(trail, "")
	var rs []string
	for r := range regions {
		if r != "" {
			rs = append(rs, r)
		}
	}
	return trail, reqs, rs, nil
}

// readStore adds the keys of every account in the regions, or of the
// account only when it is set.
func readStore(ctx context.Context, st store.Store, regions []string, account string, keys map[string]*keyInfo) error {
	accounts, err := st.ListAccounts(ctx)
	if err != nil {
		return fmt.Errorf("usage: list accounts: %w", err)
	}
	for _, a := range accounts {
		if account != "" && a.ID != account {
			continue
		}
		for _, region := range regions {
			refs, err := st.ListKeys(ctx, region, a.ID, "", 0)
			if err != nil {
				return fmt.Errorf("usage: list keys of %s in %s: %w", a.ID, region, err)
			}
			for _, ref := range refs {
				k, err := st.GetKey(ctx, ref)
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted since it was listed
				}
				if err != nil {
					return fmt.Errorf("usage: read key %s in %s: %w", ref.KeyID, ref.Region, err)
				}
				arn := keyARN(k.Region, k.AccountID, k.KeyID)
				info := &keyInfo{arn: arn, account: k.AccountID, spec: k.KeySpec, manager: k.KeyManager,
					created: k.CreationDate, createdKnown: true, inStore: true}
				if k.KeyState == "PendingDeletion" && !k.DeletionDate.IsZero() {
					// Scheduled when its waiting period began; the
					// trail's record, when there is one, replaces this.
					info.end = k.DeletionDate.AddDate(0, 0, -k.PendingWindowInDays)
					info.deletion = true
				}
				ms := slices.Clone(k.Materials)
				slices.SortStableFunc(ms, func(x, y store.Material) int { return x.CreatedAt.Compare(y.CreatedAt) })
				for _, m := range ms[min(1, len(ms)):] {
					info.rotations = append(info.rotations, m.CreatedAt)
				}
				keys[arn] = info
			}
		}
	}
	return nil
}

func keyARN(region, account, id string) string {
	partition := "aws"
	if strings.HasPrefix(region, "cn-") {
		partition = "aws-cn"
	}
	return "arn:" + partition + ":kms:" + region + ":" + account + ":key/" + id
}

// arnAccount returns the account of "arn:aws:kms:REGION:ACCOUNT:key/ID".
func arnAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
