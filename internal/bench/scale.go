package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Pages is the timing of a ListKeys walk through every key.
type Pages struct {
	Keys  int
	Times []time.Duration // one per page, in order
}

// Mean returns the mean time of pages [from, to) (clipped to the walk).
func (p Pages) Mean(from, to int) time.Duration {
	from, to = max(from, 0), min(to, len(p.Times))
	if to <= from {
		return 0
	}
	var sum time.Duration
	for _, t := range p.Times[from:to] {
		sum += t
	}
	return sum / time.Duration(to-from)
}

// String reports the walk: early pages against late ones, which keyset
// pagination keeps equal.
func (p Pages) String() string {
	n := len(p.Times)
	k := max(n/10, 1)
	var total time.Duration
	for _, t := range p.Times {
		total += t
	}
	// The first page also opens the connection and warms the client; the
	// early pages are those after it.
	early := p.Mean(1, 1+k)
	if n == 1 {
		early = p.Mean(0, 1)
	}
	return fmt.Sprintf("ListKeys: %d keys in %d pages in %s; per page: pages 2-%d %.2f ms, last %d pages %.2f ms (late/early %.2f)",
		p.Keys, n, total.Round(time.Millisecond), 1+k, ms(early), k, ms(p.Mean(n-k, n)), float64(p.Mean(n-k, n))/float64(max(early, 1)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ListAllKeys pages through every key of the caller's account with
// ListKeys at the largest page size (1,000), one page at a time, and
// returns the key ids with the time each page took.
func ListAllKeys(ctx context.Context, o Options) ([]string, Pages, error) {
	c, err := NewClient(ctx, o)
	if err != nil {
		return nil, Pages{}, err
	}
	var ids []string
	var p Pages
	var marker *string
	for {
		t0 := time.Now()
		out, err := c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(1000), Marker: marker})
		if err != nil {
			return ids, p, fmt.Errorf("list keys: %w", err)
		}
		p.Times = append(p.Times, time.Since(t0))
		for _, k := range out.Keys {
			ids = append(ids, aws.ToString(k.KeyId))
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	p.Keys = len(ids)
	return ids, p, nil
}

// WaitReadyz polls endpoint's /readyz every 2 ms until it answers 200 (the
// node has opened its store and is ready) or the timeout passes, and
// returns how long that took. client may be nil for plain HTTP.
func WaitReadyz(endpoint string, client *http.Client, timeout time.Duration) (time.Duration, error) {
	if client == nil {
		client = http.DefaultClient
	}
	start := time.Now()
	for {
		resp, err := client.Get(endpoint + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("server at %s not ready after %s (last error: %v)", endpoint, timeout, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Memory reads the resident set size of process pid now (VmRSS) and at
// its peak (VmHWM) from /proc (Linux).
func Memory(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, fmt.Errorf("read server memory: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		if name == "VmRSS" {
			rss = n << 10
		} else {
			peak = n << 10
		}
	}
	return rss, peak, nil
}

// SelfSignedCert writes a certificate for 127.0.0.1 and localhost (ECDSA
// P-256, valid for a day) and its key to dir, for a TLS bench, and returns
// the file names and a pool that trusts it.
func SelfSignedCert(dir string) (certFile, keyFile string, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "trent bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "bench-cert.pem"), filepath.Join(dir, "bench-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool, nil
}

// HTTPClient returns a plain HTTP client trusting pool (nil: the system's
// roots), for health checks.
func HTTPClient(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// Scrape reads the named samples (metric name with its labels, as the
// Prometheus text format writes them) from a /metrics URL.
func Scrape(url string, names ...string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if v, ok := strings.CutPrefix(line, n+" "); ok {
				out[n], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out, nil
}
