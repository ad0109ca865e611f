// Package bench measures a KMS endpoint the way clients use it: the AWS SDK
// for Go signs every request with SigV4 and sends it over HTTP, several
// workers at once. It reports throughput, latency percentiles and, when the
// server runs as a process on this machine, its CPU time per request.
package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Options says what to measure.
type Options struct {
	Endpoint        string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	Ops             []string      // Encrypt, Decrypt, GenerateDataKey, Sign:<KeySpec>
	Concurrency     int           // workers
	Duration        time.Duration // per operation, after a warm-up of Duration/5
	PlaintextSize   int           // bytes encrypted by Encrypt
	ServerPID       int           // 0: do not measure server CPU
	// KeyID is used as is when set; otherwise a key is created.
	KeyID string
}

// Result is the measurement of one operation.
type Result struct {
	Op          string
	Requests    int
	Errors      int
	Elapsed     time.Duration
	P50, P99    time.Duration
	ServerCPU   time.Duration // 0 when not measured
	Concurrency int
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
	s := fmt.Sprintf("%-16s c=%-3d %8.0f ops/s  p50 %7.1fµs  p99 %7.1fµs  errors %d",
		r.Op, r.Concurrency, r.OpsPerSec(), us(r.P50), us(r.P99), r.Errors)
	if r.ServerCPU > 0 {
		s += fmt.Sprintf("  server CPU %5.1fµs/req", us(r.CPUPerRequest()))
	}
	return s
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// NewClient returns an SDK client for the endpoint with a connection pool
// sized for the concurrency. Retries stay on: the SDK has a known race on
// plain-HTTP connection reuse (aws-sdk-go-v2 issues 1825 and 2737).
func NewClient(o Options) *kms.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * o.Concurrency
	tr.MaxIdleConnsPerHost = 2 * o.Concurrency
	return kms.New(kms.Options{
		Region:       o.Region,
		BaseEndpoint: aws.String(o.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, ""),
		HTTPClient:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
}

// Run measures each operation in turn.
func Run(ctx context.Context, o Options) ([]Result, error) {
	c := NewClient(o)
	keyID := o.KeyID
	if keyID == "" {
		ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("trent bench")})
		if err != nil {
			return nil, fmt.Errorf("create key: %w", err)
		}
		keyID = *ck.KeyMetadata.KeyId
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
		case "GenerateDataKey":
			call = func(ctx context.Context) error {
				_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: types.DataKeySpecAes256, EncryptionContext: encCtx})
				return err
			}
		default:
			spec, ok := strings.CutPrefix(op, "Sign:")
			if !ok {
				return out, fmt.Errorf("bench: unknown operation %q (want Encrypt, Decrypt, GenerateDataKey or Sign:<KeySpec>)", op)
			}
			var err error
			if call, err = signer(ctx, c, spec); err != nil {
				return out, err
			}
		}
		r, err := measure(ctx, o, op, call)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// signer creates a SIGN_VERIFY key of spec and returns a call that signs a
// 32-byte digest with it.
func signer(ctx context.Context, c *kms.Client, spec string) (func(context.Context) error, error) {
	algs := map[string]types.SigningAlgorithmSpec{
		"ECC_NIST_P256": types.SigningAlgorithmSpecEcdsaSha256, "ECC_SECG_P256K1": types.SigningAlgorithmSpecEcdsaSha256,
		"RSA_2048": types.SigningAlgorithmSpecRsassaPssSha256, "RSA_3072": types.SigningAlgorithmSpecRsassaPssSha256,
		"RSA_4096": types.SigningAlgorithmSpecRsassaPssSha256,
	}
	alg, ok := algs[spec]
	if !ok {
		return nil, fmt.Errorf("bench: Sign supports %v", slices.Sorted(maps.Keys(algs)))
	}
	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpec(spec), KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		return nil, fmt.Errorf("create %s key: %w", spec, err)
	}
	digest := make([]byte, 32)
	rand.Read(digest)
	return func(ctx context.Context) error {
		_, err := c.Sign(ctx, &kms.SignInput{KeyId: ck.KeyMetadata.KeyId, Message: digest, MessageType: types.MessageTypeDigest, SigningAlgorithm: alg})
		return err
	}, nil
}

// measure runs call from o.Concurrency workers: a warm-up, then the timed
// window, and reads the server's CPU time around the window.
func measure(ctx context.Context, o Options, op string, call func(context.Context) error) (Result, error) {
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
	start := time.Now()
	lat, nerr := run(o.Duration, true)
	elapsed := time.Since(start)
	cpu1, err := processCPU(o.ServerPID)
	if err != nil {
		return Result{}, err
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := Result{Op: op, Requests: len(all), Errors: nerr, Elapsed: elapsed, ServerCPU: cpu1 - cpu0, Concurrency: o.Concurrency}
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
