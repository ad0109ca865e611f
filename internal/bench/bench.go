// Package bench measures a KMS endpoint the way clients use it: the AWS SDK
// for Go signs every request with SigV4 and sends it over HTTP, several
// workers at once. It reports throughput, latency percentiles and, when the
// server runs as a process on this machine, its CPU time per request.
package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Options says what to measure.
type Options struct {
	Endpoint string
	// Region signs the requests; "" takes it from the standard AWS
	// configuration (AWS_REGION, the profile's region), else us-east-1.
	Region string
	// AccessKeyID and SecretAccessKey are used when set; otherwise the
	// credentials come from the standard AWS chain: the environment
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then
	// the shared credentials and config files (~/.aws/credentials,
	// ~/.aws/config, or AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE)
	// for the profile AWS_PROFILE names, or "default".
	AccessKeyID     string
	SecretAccessKey string
	Ops             []string      // Encrypt, Decrypt, GenerateDataKey, Sign:<KeySpec>
	Concurrency     int           // workers
	Duration        time.Duration // per operation, after a warm-up of Duration/5
	PlaintextSize   int           // bytes encrypted by Encrypt
	ServerPID       int           // 0: do not measure server CPU
	// KeyID is used as is when set; otherwise a key is created, and
	// scheduled for deletion (after the minimum waiting period of
	// [DeletionWindowDays]) when the run ends, as is every Sign key.
	KeyID string
	// KeyIDs are the keys the EncryptRandom operation picks from, one at
	// random per request (the working set).
	KeyIDs []string
	// Label names the server in every result line, e.g. "baseline".
	Label string
	// RootCAs, when set, are the CAs trusted for an https endpoint (as
	// AWS_CA_BUNDLE would be).
	RootCAs *x509.CertPool
	// DefaultPool leaves the SDK's HTTP connection pool at its defaults
	// (at most 10 idle connections per host) instead of sizing it for
	// Concurrency: above 10 workers, connections are then closed and
	// opened again all the time, which Result.Conns shows.
	DefaultPool bool
	// Log receives one line per key the run scheduled for deletion; nil
	// discards.
	Log io.Writer
	// KeepKeys leaves the keys the run created in place instead of
	// scheduling their deletion: for a server bench started itself, whose
	// store is thrown away or kept for the next run.
	KeepKeys bool
}

// DeletionWindowDays is the waiting period of the keys a run created when it
// schedules their deletion: 7 days, the minimum AWS KMS allows (KMS model,
// ScheduleKeyDeletionRequest.PendingWindowInDays: "If you include a value,
// it must be between 7 and 30, inclusive").
const DeletionWindowDays = 7

// Result is the measurement of one operation.
type Result struct {
	Label       string // the server, from Options.Label; may be empty
	Op          string
	Requests    int
	Errors      int
	Elapsed     time.Duration
	P50, P99    time.Duration
	ServerCPU   time.Duration // 0 when not measured
	Concurrency int
	// Conns is how many connections the client opened during the timed
	// window (0 once every worker has one it keeps reusing).
	Conns int64
}

// OpsPerSec returns the throughput.
func (r Result) OpsPerSec() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CPUPerRequest returns the server's CPU time per request, or 0.
func (r Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

func (r Result) String() string {
	s := ""
	if r.Label != "" {
		s = r.Label + " "
	}
	s += fmt.Sprintf("%-16s c=%-3d %8.0f ops/s  p50 %7.1fµs  p99 %7.1fµs  errors %d",
		r.Op, r.Concurrency, r.OpsPerSec(), us(r.P50), us(r.P99), r.Errors)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("  server CPU %5.1fµs/req", us(r.CPUPerRequest()))
	}
	return s + fmt.Sprintf("  new conns %d", r.Conns)
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// NewClient returns an SDK client for the endpoint, configured through the
// SDK's standard configuration loader: credentials from Options or the
// standard chain, the region from Options or the configuration, and the
// trusted CAs from AWS_CA_BUNDLE when it is set (that file then replaces
// the system's roots). The connection pool is sized for the concurrency.
// Retries stay on: the SDK has a known race on plain-HTTP connection reuse
// (aws-sdk-go-v2 issues 1825 and 2737).
func NewClient(ctx context.Context, o Options) (*kms.Client, error) {
	return newClient(ctx, o, new(atomic.Int64))
}

// newClient is NewClient counting the connections the client dials in
// dials.
func newClient(ctx context.Context, o Options, dials *atomic.Int64) (*kms.Client, error) {
	// The loader adds AWS_CA_BUNDLE's roots only to a BuildableClient; a
	// plain *http.Client makes it fail ("unable to add custom RootCAs
	// HTTPClient, has no WithTransportOptions", config/resolve.go).
	hc := awshttp.NewBuildableClient().WithTimeout(30 * time.Second).WithTransportOptions(func(tr *http.Transport) {
		if !o.DefaultPool {
			tr.MaxIdleConns = 2 * o.Concurrency
			tr.MaxIdleConnsPerHost = 2 * o.Concurrency
		}
		if o.RootCAs != nil {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.RootCAs = o.RootCAs
		}
		dial := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dial(ctx, network, addr)
		}
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(hc)}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("bench: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return kms.NewFromConfig(cfg, func(ko *kms.Options) { ko.BaseEndpoint = aws.String(o.Endpoint) }), nil
}

// Run measures each operation in turn. Every key it creates is scheduled
// for deletion before it returns, whether the measurement succeeded or
// not; a failure to schedule is part of the returned error.
func Run(ctx context.Context, o Options) (results []Result, err error) {
	dials := new(atomic.Int64)
	c, err := newClient(ctx, o, dials)
	if err != nil {
		return nil, err
	}
	var created []string
	defer func() {
		if !o.KeepKeys {
			err = errors.Join(err, scheduleDeletion(ctx, c, created, o.Log))
		}
	}()
	keyID := o.KeyID
	if keyID == "" {
		ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("trent bench")})
		if err != nil {
			return nil, fmt.Errorf("create key: %w", err)
		}
		keyID = *ck.KeyMetadata.KeyId
		created = append(created, keyID)
	}
	pt := make([]byte, o.PlaintextSize)
	rand.Read(pt)
	encCtx := map[string]string{"purpose": "bench"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: pt, EncryptionContext: encCtx})
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	var out []Result
	for _, op := range o.Ops {
		var call func(context.Context) error
		switch op {
		case "Encrypt":
			call = func(ctx context.Context) error {
				_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyID, Plaintext: pt, EncryptionContext: encCtx})
				return err
			}
		case "Decrypt":
			call = func(ctx context.Context) error {
				_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: encCtx})
				return err
			}
		case "EncryptRandom":
			if len(o.KeyIDs) == 0 {
				return out, errors.New("bench: EncryptRandom needs Options.KeyIDs")
			}
			call = func(ctx context.Context) error {
				id := o.KeyIDs[mathrand.IntN(len(o.KeyIDs))]
				_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: &id, Plaintext: pt, EncryptionContext: encCtx})
				return err
			}
		case "GenerateDataKey":
			call = func(ctx context.Context) error {
				_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
				return err
			}
		case "CreateKey", "CreateKey:SYMMETRIC_DEFAULT", "CreateKey:ECC_NIST_P256", "CreateKey:RSA_2048", "CreateKey:RSA_4096":
			// A write: measures the store (one transaction per key) and,
			// for an asymmetric spec, key generation. The keys made are
			// scheduled for deletion at the end, like the bench's own key.
			in := kms.CreateKeyInput{Description: aws.String("trent bench")}
			if spec, ok := strings.CutPrefix(op, "CreateKey:"); ok && spec != "SYMMETRIC_DEFAULT" {
				in.KeySpec, in.KeyUsage = types.KeySpec(spec), types.KeyUsageTypeSignVerify
			}
			var mu sync.Mutex
			call = func(ctx context.Context) error {
				in := in
				ck, err := c.CreateKey(ctx, &in)
				if err == nil {
					mu.Lock()
					created = append(created, *ck.KeyMetadata.KeyId)
					mu.Unlock()
				}
				return err
			}
		default:
			spec, ok := strings.CutPrefix(op, "Sign:")
			if !ok {
				return out, fmt.Errorf("bench: unknown operation %q (want Encrypt, EncryptRandom, Decrypt, GenerateDataKey, CreateKey[:<KeySpec>] or Sign:<KeySpec>)", op)
			}
			var (
				err   error
				keyID string
			)
			call, keyID, err = signer(ctx, c, spec)
			if keyID != "" {
				created = append(created, keyID)
			}
			if err != nil {
				return out, err
			}
		}
		r, err := measure(ctx, o, op, call, dials)
		if err != nil {
			return out, err
		}
		r.Label = o.Label
		out = append(out, r)
	}
	return out, nil
}

// scheduleDeletion schedules the deletion of each key after
// DeletionWindowDays. It runs even when ctx was cancelled (the run was
// interrupted), with a bounded time of its own.
func scheduleDeletion(ctx context.Context, c *kms.Client, keyIDs []string, log io.Writer) error {
	if len(keyIDs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if log == nil {
		log = io.Discard
	}
	var errs []error
	for _, id := range keyIDs {
		out, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(DeletionWindowDays)})
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule deletion of key %s (delete it yourself): %w", id, err))
			continue
		}
		fmt.Fprintf(log, "scheduled deletion of key %s on %s\n", id, aws.ToTime(out.DeletionDate).UTC().Format(time.RFC3339))
	}
	return errors.Join(errs...)
}

// signer creates a SIGN_VERIFY key of spec and returns a call that signs a
// 32-byte digest with it, and the id of the key.
func signer(ctx context.Context, c *kms.Client, spec string) (func(context.Context) error, string, error) {
	algs := map[string]types.SigningAlgorithmSpec{
		"ECC_NIST_P256": types.SigningAlgorithmSpecEcdsaSha256, "ECC_SECG_P256K1": types.SigningAlgorithmSpecEcdsaSha256,
		"RSA_2048": types.SigningAlgorithmSpecRsassaPssSha256, "RSA_3072": types.SigningAlgorithmSpecRsassaPssSha256,
		"RSA_4096": types.SigningAlgorithmSpecRsassaPssSha256,
	}
	alg, ok := algs[spec]
	if !ok {
		return nil, "", fmt.Errorf("bench: Sign supports %v", slices.Sorted(maps.Keys(algs)))
	}
	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("trent bench"), KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		return nil, "", fmt.Errorf("create %s key: %w", spec, err)
	}
	digest := make([]byte, 32)
	rand.Read(digest)
	return func(ctx context.Context) error {
		_, err := c.Sign(ctx, &kms.SignInput{KeyId: ck.KeyMetadata.KeyId, Message: digest, MessageType: types.MessageTypeDigest, SigningAlgorithm: alg})
		return err
	}, *ck.KeyMetadata.KeyId, nil
}

// measure runs call from o.Concurrency workers: a warm-up, then the timed
// window, and reads the server's CPU time around the window.
func measure(ctx context.Context, o Options, op string, call func(context.Context) error, dials *atomic.Int64) (Result, error) {
	run := func(d time.Duration, record bool) ([][]time.Duration, int) {
		lat := make([][]time.Duration, o.Concurrency)
		errs := make([]int, o.Concurrency)
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := range o.Concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && time.Now().Before(deadline) {
					t0 := time.Now()
					if err := call(ctx); err != nil {
						errs[w]++
						continue
					}
					if record {
						lat[w] = append(lat[w], time.Since(t0))
					}
				}
			}()
		}
		wg.Wait()
		n := 0
		for _, e := range errs {
			n += e
		}
		return lat, n
	}
	run(o.Duration/5, false)
	cpu0, err := processCPU(o.ServerPID)
	if err != nil {
		return Result{}, err
	}
	conns0 := dials.Load()
	start := time.Now()
	lat, nerr := run(o.Duration, true)
	elapsed := time.Since(start)
	conns := dials.Load() - conns0
	cpu1, err := processCPU(o.ServerPID)
	if err != nil {
		return Result{}, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := Result{Op: op, Requests: len(all), Errors: nerr, Elapsed: elapsed, ServerCPU: cpu1 - cpu0, Concurrency: o.Concurrency, Conns: conns}
	if len(all) > 0 {
		r.P50 = all[len(all)*50/100]
		r.P99 = all[len(all)*99/100]
	}
	return r, ctx.Err()
}

// processCPU returns the user+system CPU time of the process pid from
// /proc (Linux), or 0 for pid 0.
func processCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read server CPU time: %w", err)
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("read server CPU time: short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTick = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WaitReady polls the endpoint until it answers HTTP or the timeout passes.
func WaitReady(endpoint string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Post(endpoint, "application/x-amz-json-1.1", strings.NewReader("{}"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server at %s not ready: %w", endpoint, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
