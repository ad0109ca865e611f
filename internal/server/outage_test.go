package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"
)

// cutProxy is a TCP proxy on loopback between the nodes and PostgreSQL
// that the test can cut (every connection is closed and new ones are
// closed on accept, as when the database host goes away) and restore.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// setCut cuts (true) or restores (false) the way to the database.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

// TestDatabaseOutage runs a node whose every connection to PostgreSQL goes
// through a proxy, creates keys under load, cuts the proxy and restores
// it. During the outage requests that need the database fail with
// DependencyTimeoutException (503) instead of hanging, /readyz reports
// it, and a cached key still encrypts (within cache_ttl). Afterwards the
// node recovers without a restart, and every CreateKey it acknowledged is
// in the database.
func TestDatabaseOutage(t *testing.T) {
	dbURL := postgresURL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	n := startCluster(t, u.String(), 1)[0]
	// No SDK retries: each call shows what the node answered.
	c := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(n.srv.URL()), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKeyID, testSecret, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second}})
	ctx := context.Background()
	readyz := func() int {
		resp, err := http.Get(n.srv.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := readyz(); s != http.StatusOK {
		t.Fatalf("/readyz = %d before the outage", s)
	}
	cached := newKey(t, c)
	mustNil(t, "Encrypt", code(encryptWith(ctx, c, *cached.KeyId), ""))

	// Load: CreateKey in a loop, bounded in count; acknowledged ids kept.
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for range 2000 {
			select {
			case <-stop:
				return
			default:
			}
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			if err == nil {
				mu.Lock()
				acked = append(acked, *out.KeyMetadata.KeyId)
				mu.Unlock()
			} else {
				time.Sleep(5 * time.Millisecond) // the outage: do not spin
			}
		}
	}()
	eventually(t, "keys created under load", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 5 {
			return io.ErrShortBuffer
		}
		return nil
	})

	proxy.setCut(true)
	eventually(t, "CreateKey fails fast with DependencyTimeoutException", func() error {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err := code(err, "DependencyTimeoutException"); err != nil {
			return err
		}
		wantStatus(t, err, http.StatusServiceUnavailable)
		return nil
	})
	eventually(t, "/readyz reports the outage", func() error {
		if s := readyz(); s != http.StatusServiceUnavailable {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	// A key cached less than cache_ttl ago still serves cryptographic
	// requests (docs/operations.md: outages).
	mustNil(t, "Encrypt with a cached key during the outage", code(encryptWith(ctx, c, *cached.KeyId), ""))
	// A request for a key that is not cached needs the database.
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")})
	mustNil(t, "DescribeKey of an uncached key", code(err, "DependencyTimeoutException"))

	proxy.setCut(false)
	eventually(t, "/readyz recovers", func() error {
		if s := readyz(); s != http.StatusOK {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	eventually(t, "CreateKey recovers without a restart", func() error {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		return err
	})
	close(stop)
	<-loadDone

	// Nothing acknowledged is lost.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var found int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM keys WHERE key_id = ANY($1)`, acked).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found != len(acked) {
		t.Fatalf("%d of %d acknowledged keys are in the database", found, len(acked))
	}
	t.Logf("%d keys acknowledged under load, all in the database", len(acked))
	mustNil(t, "Encrypt after recovery", code(encryptWith(ctx, c, *cached.KeyId), ""))
}

func encryptWith(ctx context.Context, c *kms.Client, id string) error {
	_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	return err
}
