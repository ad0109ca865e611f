package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/chromedp/chromedp"

	"github.com/trent-kms/trent/internal/console"
)

// browser drives one headless Chromium tab against a node's console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // the node's URL
	dir  string // screenshots

	mu       sync.Mutex
	problems []string // uncaught exceptions and CSP violations
}

// chromiumPath returns Debian's chromium. Without it the browser tests skip,
// except in CI (CI set), where .ci/run installs it and its absence fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found (.ci/run installs it with apt-get): %v", err)
		}
		t.Skipf("chromium not installed (apt-get install chromium); the console's browser tests need it: %v", err)
	}
	return p
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests may run as root, which Chromium's sandbox refuses
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	dir := os.Getenv("TRENT_CONSOLE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, ctx: ctx, base: base, dir: dir}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/console/")); err != nil {
		t.Fatal(err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// Failed fetches (403, 400) are logged by the network source:
			// they are the API's answers. Exceptions and security (CSP)
			// entries are faults of the console.
			if m.IsException() || m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser console: %s", p)
		}
	})
	return b
}

// do runs steps, each bounded, and fails the test on an error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval returns the value of a JavaScript expression.
func evalString(b *browser, expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// text returns the text of the first element matching the CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return evalString(b, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, sel))
}

// waitText waits until the element matching sel has a text containing want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? '').includes(%q)`, sel, want),
		chromedp.WithPollingTimeout(15*time.Second))
}

// goHash navigates within the signed-in page (a new page load would sign out).
func goHash(h string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q`, h))
}

// shot writes a PNG of the whole page to the screenshot folder.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) signIn(akid, secret string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.WaitVisible(chromedp.ID("access-key-id")),
		chromedp.SetValue(chromedp.ID("access-key-id"), akid),
		chromedp.SetValue(chromedp.ID("secret-access-key"), secret),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.CSS("#keys-table table")),
	)
}

// TestConsoleServing: the console is served on the API listener with its
// Content-Security-Policy, and POST / is still the KMS API.
func TestConsoleServing(t *testing.T) {
	n := startNode(t)
	res, err := http.Get(n.srv.URL() + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") != console.CSP || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /console/ = %d %v", res.StatusCode, res.Header)
	}
	if _, err := n.client("us-east-1").ListKeys(context.Background(), &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys beside the console: %v", err)
	}
}

// TestConsole drives the console in headless Chromium against a real node:
// sign-in, the create-key wizard, aliases, tags, enable and disable,
// deletion scheduling, policy edits (refused and saved), identities,
// usage charts, and a least-privileged user's view.
func TestConsole(t *testing.T) {
	chromiumPath(t)
	ctx := context.Background()
	n := startNode(t)
	kc := n.client("us-east-1")
	ic := n.iamRoot()
	for _, u := range []string{"alice", "bob"} {
		if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
			t.Fatal(err)
		}
	}
	bobPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:ListKeys","kms:ListAliases","kms:DescribeKey"],"Resource":"*"}]}`
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("read"), PolicyDocument: aws.String(bobPolicy)}); err != nil {
		t.Fatal(err)
	}
	bobKey, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	sdkKey, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("made by the SDK"), Tags: []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("prod")}}})
	if err != nil {
		t.Fatal(err)
	}
	sdkKeyID := *sdkKey.KeyMetadata.KeyId
	if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/sdk"), TargetKeyId: &sdkKeyID}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, n.srv.URL())
	b.shot("01-sign-in")
	b.signIn(testAccessKeyID, testSecret)
	b.do("keys list", waitText("#keys-table", "alias/sdk"))
	b.shot("02-keys")

	// Filters: a tag that no key has hides the key; env=prod shows it.
	b.do("tag filter",
		chromedp.SetValue(chromedp.ID("filter-tag"), "env=dev"),
		chromedp.Click(chromedp.ID("filter-apply")),
		waitText("#keys-table caption", "0 of 1 keys"),
		chromedp.SetValue(chromedp.ID("filter-tag"), "env=prod"),
		chromedp.Click(chromedp.ID("filter-apply")),
		waitText("#keys-table caption", "1 of 1 keys"))

	// The wizard: symmetric key, alias, description, tag, alice as
	// administrator, bob as user; the reviewed policy is the one created.
	b.do("wizard",
		goHash("#/create"),
		chromedp.WaitVisible(chromedp.ID("key-spec")),
		chromedp.Click(chromedp.ID("wizard-next")),
		chromedp.WaitVisible(chromedp.ID("key-alias")),
		chromedp.SetValue(chromedp.ID("key-alias"), "console-key"),
		chromedp.SetValue(chromedp.ID("key-description"), "made in the console"),
		chromedp.SetValue(chromedp.ID("tag-key-0"), "team"),
		chromedp.SetValue(chromedp.ID("tag-value-0"), "blue"),
		chromedp.Click(chromedp.ID("wizard-next")),
		chromedp.WaitVisible(chromedp.ID("admin-User-alice")),
		chromedp.Click(chromedp.ID("admin-User-alice")),
		chromedp.Click(chromedp.ID("wizard-next")),
		chromedp.WaitVisible(chromedp.ID("user-User-bob")),
		chromedp.Click(chromedp.ID("user-User-bob")),
		chromedp.Click(chromedp.ID("wizard-next")),
		chromedp.WaitVisible(chromedp.ID("review-policy")))
	b.shot("03-create-key-review")
	reviewed := evalString(b, `document.getElementById('review-policy').value`)
	b.do("create", chromedp.Click(chromedp.ID("wizard-finish")), chromedp.WaitVisible(chromedp.ID("key-id")))
	keyID := b.text("#key-id")
	b.do("policy tab", chromedp.WaitVisible(chromedp.ID("policy-editor")))
	b.shot("04-key-detail")

	got, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default")})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Policy != reviewed {
		t.Errorf("stored policy differs from the reviewed one:\n%s\n---\n%s", *got.Policy, reviewed)
	}
	var doc struct {
		Id        string
		Statement []struct {
			Sid       string
			Principal struct{ AWS any }
			Action    any
			Condition map[string]map[string]any
		}
	}
	if err := json.Unmarshal([]byte(*got.Policy), &doc); err != nil {
		t.Fatal(err)
	}
	want := []struct{ sid, principal string }{
		{"Enable IAM User Permissions", "arn:aws:iam::111122223333:root"},
		{"Allow access for Key Administrators", "arn:aws:iam::111122223333:user/alice"},
		{"Allow use of the key", "arn:aws:iam::111122223333:user/bob"},
		{"Allow attachment of persistent resources", "arn:aws:iam::111122223333:user/bob"},
	}
	if doc.Id != "key-consolepolicy-3" || len(doc.Statement) != len(want) {
		t.Fatalf("policy = %s", *got.Policy)
	}
	for i, w := range want {
		s := doc.Statement[i]
		if s.Sid != w.sid || s.Principal.AWS != w.principal {
			t.Errorf("statement %d = %q %v, want %q %s", i, s.Sid, s.Principal.AWS, w.sid, w.principal)
		}
	}
	if a := fmt.Sprint(doc.Statement[1].Action); !strings.Contains(a, "kms:ScheduleKeyDeletion") || !strings.Contains(a, "kms:Put*") {
		t.Errorf("administrators' actions = %s", a)
	}
	if a := fmt.Sprint(doc.Statement[2].Action); a != "[kms:Encrypt kms:Decrypt kms:ReEncrypt* kms:GenerateDataKey* kms:DescribeKey]" {
		t.Errorf("users' actions = %s", a)
	}
	if c := doc.Statement[3].Condition["Bool"]["kms:GrantIsForAWSResource"]; c != true {
		t.Errorf("persistent resources condition = %v", doc.Statement[3].Condition)
	}
	desc, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/console-key")})
	if err != nil || *desc.KeyMetadata.KeyId != keyID || *desc.KeyMetadata.Description != "made in the console" {
		t.Fatalf("DescribeKey alias/console-key = %+v, %v", desc, err)
	}

	// Aliases and tags.
	b.do("alias",
		chromedp.Click(chromedp.ID("tab-aliases")),
		chromedp.WaitVisible(chromedp.ID("new-alias")),
		chromedp.SetValue(chromedp.ID("new-alias"), "second"),
		chromedp.Click(chromedp.ID("create-alias")),
		waitText("#panel-aliases", "alias/second"))
	b.shot("05-aliases")
	b.do("tag",
		chromedp.Click(chromedp.ID("tab-tags")),
		chromedp.WaitVisible(chromedp.ID("new-tag-key")),
		waitText("#panel-tags", "blue"),
		chromedp.SetValue(chromedp.ID("new-tag-key"), "cost-centre"),
		chromedp.SetValue(chromedp.ID("new-tag-value"), "42"),
		chromedp.Click(chromedp.ID("add-tag")),
		waitText("#panel-tags", "cost-centre"))
	b.shot("06-tags")
	tags, err := kc.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: &keyID})
	if err != nil || len(tags.Tags) != 2 {
		t.Fatalf("tags = %+v, %v", tags, err)
	}
	if _, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/second")}); err != nil {
		t.Fatalf("alias/second: %v", err)
	}

	// Disable and enable.
	state := func() types.KeyState {
		t.Helper()
		d, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyID})
		if err != nil {
			t.Fatal(err)
		}
		return d.KeyMetadata.KeyState
	}
	b.do("disable", chromedp.Click(chromedp.ID("disable-key")), chromedp.WaitVisible(chromedp.ID("enable-key")))
	if s := state(); s != types.KeyStateDisabled {
		t.Fatalf("after Disable: %s", s)
	}
	b.do("enable", chromedp.Click(chromedp.ID("enable-key")), chromedp.WaitVisible(chromedp.ID("disable-key")))
	if s := state(); s != types.KeyStateEnabled {
		t.Fatalf("after Enable: %s", s)
	}

	// Schedule deletion: the confirmation names the waiting period, and
	// nothing is scheduled until it is ticked.
	b.do("schedule deletion",
		chromedp.Click(chromedp.ID("schedule-deletion")),
		chromedp.WaitVisible(chromedp.ID("waiting-period")),
		chromedp.Clear(chromedp.ID("waiting-period")),
		chromedp.SendKeys(chromedp.ID("waiting-period"), "7"),
		waitText("#deletion-warning", "waiting period of 7 days"),
		waitText("label[for=confirm-deletion]", "after a 7-day waiting period"),
		chromedp.Click(chromedp.ID("confirm-schedule")),
		waitText("#action-error", "Confirm the waiting period first."))
	if s := state(); s != types.KeyStateEnabled {
		t.Fatalf("scheduled without confirmation: %s", s)
	}
	b.shot("07-schedule-deletion")
	b.do("confirm deletion",
		chromedp.Click(chromedp.ID("confirm-deletion")),
		chromedp.Click(chromedp.ID("confirm-schedule")),
		chromedp.WaitVisible(chromedp.ID("cancel-deletion")))
	// The deletion date is seven days away (DescribeKey returns
	// PendingDeletionWindowInDays only for multi-Region replicas).
	d, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyID})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingDeletion || d.KeyMetadata.DeletionDate == nil {
		t.Fatalf("after ScheduleKeyDeletion: %+v %v", d, err)
	}
	if days := time.Until(*d.KeyMetadata.DeletionDate).Hours() / 24; days < 6.9 || days > 7.1 {
		t.Fatalf("deletion date %v is %.2f days away, want 7", d.KeyMetadata.DeletionDate, days)
	}
	b.shot("08-pending-deletion")
	// CancelKeyDeletion leaves the key Disabled, as in AWS.
	b.do("cancel deletion", chromedp.Click(chromedp.ID("cancel-deletion")), chromedp.WaitVisible(chromedp.ID("enable-key")))
	if s := state(); s != types.KeyStateDisabled {
		t.Fatalf("after CancelKeyDeletion: %s", s)
	}
	b.do("enable again", chromedp.Click(chromedp.ID("enable-key")), chromedp.WaitVisible(chromedp.ID("disable-key")))

	// Policy edits: not JSON is caught in the browser; a lockout is
	// refused by the server with AWS's message beside the save button; a
	// good edit is saved after its diff is shown.
	b.do("policy not JSON",
		chromedp.WaitVisible(chromedp.ID("policy-editor")),
		chromedp.SetValue(chromedp.ID("policy-editor"), "{"),
		chromedp.Click(chromedp.ID("policy-review")),
		waitText("#policy-error", "The policy is not valid JSON"))
	lockout := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:Decrypt","Resource":"*"}]}`
	b.do("policy lockout",
		chromedp.SetValue(chromedp.ID("policy-editor"), lockout),
		chromedp.Click(chromedp.ID("policy-review")),
		chromedp.WaitVisible(chromedp.CSS("#policy-diff pre")),
		chromedp.Click(chromedp.ID("policy-save")),
		waitText("#policy-error", "MalformedPolicyDocumentException: The new key policy will not allow you to update the key policy in the future."))
	b.shot("09-policy-refused")
	var edited map[string]any
	json.Unmarshal([]byte(reviewed), &edited)
	edited["Statement"] = append(edited["Statement"].([]any), map[string]any{
		"Sid": "ConsoleTest", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::111122223333:user/alice"},
		"Action": "kms:GetKeyPolicy", "Resource": "*",
	})
	editedJSON, _ := json.MarshalIndent(edited, "", "  ")
	b.do("policy save",
		chromedp.SetValue(chromedp.ID("policy-editor"), string(editedJSON)),
		chromedp.Click(chromedp.ID("policy-review")),
		waitText("#policy-diff", `+       "Sid": "ConsoleTest"`),
		chromedp.Click(chromedp.ID("policy-save")),
		waitText("#policy-notice", "Key policy saved."))
	got, err = kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: &keyID, PolicyName: aws.String("default")})
	if err != nil || !strings.Contains(*got.Policy, "ConsoleTest") {
		t.Fatalf("policy after save: %v %v", got, err)
	}

	// Rotation and the other tabs render.
	b.do("rotation tab", chromedp.Click(chromedp.ID("tab-rotation")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#rotation-status, #rotation-unavailable') !== null`, chromedp.WithPollingTimeout(10*time.Second)))
	b.do("grants tab", chromedp.Click(chromedp.ID("tab-grants")), waitText("#panel-grants", "0 grants"))
	b.do("crypto tab", chromedp.Click(chromedp.ID("tab-crypto")), waitText("#panel-crypto", "SYMMETRIC_DEFAULT"))

	// Identities: a new access key's secret is shown once and works.
	b.do("identities",
		goHash("#/identities"),
		waitText("#users", "alice"),
		waitText("#policies", "customer managed policies"),
		chromedp.Click(chromedp.CSS(`button[aria-label="Access keys of alice"]`)),
		chromedp.WaitVisible(chromedp.ID("create-access-key")),
		chromedp.Click(chromedp.ID("create-access-key")),
		chromedp.WaitVisible(chromedp.ID("new-secret-value")))
	b.shot("10-identities")
	akid, secret := b.text("#new-access-key-id"), b.text("#new-secret-value")
	who, err := n.stsWith("us-east-1", akid, secret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || *who.Arn != "arn:aws:iam::111122223333:user/alice" {
		t.Fatalf("the console's new access key: %v %v", who, err)
	}

	// Traffic on the SDK's key: three Encrypts, two Decrypts and one
	// Decrypt of a damaged ciphertext.
	var blob []byte
	for range 3 {
		e, err := kc.Encrypt(ctx, &kms.EncryptInput{KeyId: &sdkKeyID, Plaintext: []byte("console test plaintext")})
		if err != nil {
			t.Fatal(err)
		}
		blob = e.CiphertextBlob
	}
	for range 2 {
		if _, err := kc.Decrypt(ctx, &kms.DecryptInput{KeyId: &sdkKeyID, CiphertextBlob: blob}); err != nil {
			t.Fatal(err)
		}
	}
	blob[len(blob)-1] ^= 1
	if _, err := kc.Decrypt(ctx, &kms.DecryptInput{KeyId: &sdkKeyID, CiphertextBlob: blob}); err == nil {
		t.Fatal("Decrypt of a damaged ciphertext succeeded")
	}

	// Usage: key counts, then the key's requests over the last hour and
	// the month's report.
	b.do("usage", goHash("#/usage"), chromedp.WaitVisible(chromedp.CSS("#chart-state rect.bar")),
		chromedp.WaitVisible(chromedp.CSS("#chart-ops")), waitText("#usage-report", "Total"))
	if title := b.text("#chart-state title"); title != "Keys by state: Enabled 2" {
		t.Errorf("state chart = %q", title)
	}
	if title := b.text("#chart-spec title"); title != "Keys by key spec: SYMMETRIC_DEFAULT 2" {
		t.Errorf("spec chart = %q", title)
	}
	b.shot("11-usage")
	b.do("usage of a key",
		chromedp.SetValue(chromedp.ID("usage-key"), "alias/sdk"), // the console resolves it to the key's ARN
		chromedp.Click(chromedp.ID("usage-refresh")),
		waitText("#requests-total", "with alias/sdk"),
		chromedp.WaitVisible(chromedp.CSS(`#chart-ops rect[data-label="Decrypt failed"]`)),
		waitText("#report-keys", sdkKeyID))
	count := func(sel string) string {
		return evalString(b, fmt.Sprintf(`document.querySelector(%q)?.getAttribute('data-count') ?? 'none'`, sel))
	}
	for label, want := range map[string]string{"Encrypt success": "3", "Decrypt success": "2", "Decrypt failed": "1", "CreateKey success": "1"} {
		if got := count(fmt.Sprintf(`#chart-ops rect[data-label=%q]`, label)); got != want {
			t.Errorf("chart-ops bar %q = %s, want %s", label, got, want)
		}
	}
	// The chart has one bar per operation and outcome that the API
	// reports for the key, and the columns over time add up to the same.
	status, counts := adminCall(t, n, testAccessKeyID, testSecret, "GetRequestCounts",
		map[string]any{"KeyId": sdkKeyID, "Period": 3600, "StartTime": time.Now().Add(-2 * time.Hour).Unix()})
	if status != 200 {
		t.Fatalf("GetRequestCounts = %d %v", status, counts)
	}
	pairs, total := map[string]bool{}, 0.0
	for _, d := range counts["Datapoints"].([]any) {
		m := d.(map[string]any)
		pairs[m["Operation"].(string)+" "+m["Outcome"].(string)] = true
		total += m["Count"].(float64)
	}
	if bars := evalString(b, `String(document.querySelectorAll('#chart-ops rect.bar').length)`); bars != fmt.Sprint(len(pairs)) {
		t.Errorf("chart-ops has %s bars, the API reports %d operation and outcome pairs", bars, len(pairs))
	}
	sum := `String([...document.querySelectorAll(%q)].reduce((a, r) => a + Number(r.getAttribute('data-count')), 0))`
	if got := evalString(b, fmt.Sprintf(sum, "#chart-time rect.bar")); got != fmt.Sprint(total) {
		t.Errorf("the columns over time add up to %s, the API reports %v requests", got, total)
	}
	if got := evalString(b, fmt.Sprintf(sum, "#chart-ops rect.bar")); got != fmt.Sprint(total) {
		t.Errorf("the operation bars add up to %s, the API reports %v requests", got, total)
	}
	if rows := evalString(b, `String(document.querySelectorAll('#chart-ops + details tbody tr').length)`); rows != fmt.Sprint(len(pairs)) {
		t.Errorf("chart-ops' data table has %s rows, want %d", rows, len(pairs))
	}
	b.shot("12-usage-key")

	// Audit: search by key and outcome, then open the record.
	b.do("audit by key",
		goHash("#/audit"),
		chromedp.WaitVisible(chromedp.ID("audit-key")),
		chromedp.SetValue(chromedp.ID("audit-key"), sdkKeyID),
		chromedp.SetValue(chromedp.ID("audit-operation"), "Encrypt"),
		chromedp.Click(chromedp.ID("audit-search")),
		waitText("#audit-results caption", "3 records, newest first"))
	b.do("audit by outcome",
		chromedp.Evaluate[chromedp.Void](`document.getElementById('audit-operation').value = ''`),
		chromedp.SetValue(chromedp.ID("audit-outcome"), "failed"),
		chromedp.Click(chromedp.ID("audit-search")),
		waitText("#audit-results caption", "1 record, newest first"),
		waitText("#audit-results tbody", "InvalidCiphertextException"))
	b.shot("13-audit-search")
	b.do("audit record",
		chromedp.Click(chromedp.CSS("#audit-results button.view-record")),
		chromedp.WaitVisible(chromedp.ID("record-json")),
		waitText("#record-outcome", "InvalidCiphertextException"),
		waitText("#record-json", `"eventName": "Decrypt"`),
		waitText("#record-json", `"errorCode": "InvalidCiphertextException"`),
		waitText("#record-json", sdkKeyID))
	b.shot("14-audit-record")

	// A least-privileged user: bob may list and describe keys only.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("access-key-id")))
	b.signIn(*bobKey.AccessKey.AccessKeyId, *bobKey.AccessKey.SecretAccessKey)
	b.do("bob's keys", waitText("#keys-table", "alias/console-key"), waitText("#keys-table", "alias/sdk"))
	b.do("bob's key page",
		goHash("#/keys/"+sdkKeyID),
		chromedp.WaitVisible(chromedp.ID("disable-key")),
		waitText("#panel-policy", "AccessDeniedException: User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:GetKeyPolicy"),
		chromedp.Click(chromedp.ID("disable-key")),
		waitText("#action-error", "AccessDeniedException: User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:DisableKey"))
	b.shot("16-least-privilege")
	if d, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &sdkKeyID}); err != nil || d.KeyMetadata.KeyState != types.KeyStateEnabled {
		t.Fatalf("sdk key after bob's refused DisableKey: %+v %v", d, err)
	}
	b.do("bob's identities", goHash("#/identities"), waitText("#users", "AccessDenied"))
	b.do("bob's usage",
		goHash("#/usage"),
		waitText("#requests-error", "AccessDeniedException: User: arn:aws:iam::111122223333:user/bob is not authorized to perform: trent:GetRequestCounts"),
		waitText("#report-error", "AccessDeniedException: User: arn:aws:iam::111122223333:user/bob is not authorized to perform: trent:GetUsageReport"),
		waitText("#usage-keys", "2 keys"))
	b.shot("15-least-privilege-usage")
	b.do("bob's audit",
		goHash("#/audit"),
		chromedp.WaitVisible(chromedp.ID("audit-search")),
		chromedp.Click(chromedp.ID("audit-search")),
		waitText("#audit-error", "AccessDeniedException: User: arn:aws:iam::111122223333:user/bob is not authorized to perform: trent:SearchAudit"))
	t.Logf("screenshots in %s", b.dir)
}
