package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/peer"
)

// PeeringConfig links this deployment to others that serve other regions,
// for multi-Region keys replicated across deployments (docs/multi-region.md,
// "Between deployments"; package peer).
type PeeringConfig struct {
	// Listen is the address of the peering listener (mutual TLS), e.g.
	// "0.0.0.0:9444".
	Listen string `yaml:"listen"`
	// CertFile and KeyFile are this deployment's peering certificate,
	// presented both as server and as client; CAFile is the CA that signs
	// every deployment's peering certificate.
	CertFile string       `yaml:"cert_file"`
	KeyFile  string       `yaml:"key_file"`
	CAFile   string       `yaml:"ca_file"`
	Peers    []PeerConfig `yaml:"peers"`
	// SyncInterval is how often the shared properties and configuration
	// of every multi-Region primary key held here are pushed again to its
	// replicas, repairing what an unreachable peer missed. Default 1m.
	SyncInterval time.Duration `yaml:"sync_interval"`
}

// PeerConfig is another deployment: Name must be a DNS name of its peering
// certificate, URL its peering listener ("https://host:port"), Regions
// the regions it serves (none of this deployment's).
type PeerConfig struct {
	Name    string   `yaml:"name"`
	URL     string   `yaml:"url"`
	Regions []string `yaml:"regions"`
}

// validatePeering reports the problems of the peering section.
func (c *Config) validatePeering(bad func(field, format string, args ...any)) {
	p := c.Peering
	if p == nil {
		return
	}
	if _, _, err := net.SplitHostPort(p.Listen); err != nil {
		bad("peering", "peering.listen: %v", err)
	}
	if p.CertFile == "" || p.KeyFile == "" || p.CAFile == "" {
		bad("peering", "peering: cert_file, key_file and ca_file are required (peers authenticate each other with mutual TLS)")
	}
	if len(c.Regions) == 0 {
		bad("peering", "peering: set regions to the regions this deployment serves; its peers serve others")
	}
	if len(p.Peers) == 0 {
		bad("peering", "peering: no peers")
	}
	seen := map[string]string{}
	for _, r := range c.Regions {
		seen[r] = "this deployment"
	}
	for i, pc := range p.Peers {
		if pc.Name == "" {
			bad("peering", "peering.peers[%d]: name is required", i)
		}
		if u, err := url.Parse(pc.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("peering", "peering.peers[%d]: url must be https://host:port", i)
		}
		if len(pc.Regions) == 0 {
			bad("peering", "peering.peers[%d]: regions are required", i)
		}
		for _, r := range pc.Regions {
			if !regionName.MatchString(r) {
				bad("peering", "peering.peers[%d]: %q is not a region name", i, r)
			} else if who, dup := seen[r]; dup {
				bad("peering", "peering.peers[%d]: region %s is served by %s already", i, r, who)
			}
			seen[r] = "peer " + pc.Name
		}
	}
}

// peering is the running peering listener.
type peering struct {
	link *peer.Link
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// newPeerLink builds the peer link of the configuration, nil without one.
func newPeerLink(cfg *Config, log *slog.Logger) (*peering, error) {
	p := cfg.Peering
	if p == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("peering: load certificate %s and key %s: %w", p.CertFile, p.KeyFile, err)
	}
	caPEM, err := os.ReadFile(p.CAFile)
	if err != nil {
		return nil, fmt.Errorf("peering: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("peering: %s holds no PEM certificate", p.CAFile)
	}
	base := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool, MinVersion: tls.VersionTLS13}
	var peers []peer.Peer
	for _, pc := range p.Peers {
		peers = append(peers, peer.Peer{Name: pc.Name, URL: pc.URL, Regions: slices.Clone(pc.Regions)})
	}
	link, err := peer.New(peer.Config{Peers: peers, TLS: base, Logger: log.With("component", "peering")})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return nil, fmt.Errorf("peering: %w", err)
	}
	srv := &http.Server{
		TLSConfig:         peer.ServerTLS(base),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Handler:           http.NotFoundHandler(), // until the KMS service exists
	}
	return &peering{link: link, srv: srv, ln: ln, done: make(chan error, 1)}, nil
}

// peers returns the link as kms.Peers, nil without peering (a nil *Link
// must not become a non-nil interface).
func (p *peering) peers() kms.Peers {
	if p == nil {
		return nil
	}
	return p.link
}

// serve starts answering peers with svc.
func (p *peering) serve(svc *kms.Service, log *slog.Logger, cfg *PeeringConfig) {
	if p == nil {
		return
	}
	for _, pc := range cfg.Peers {
		log.Info("peering: regions served by a peer deployment", "peer", pc.Name, "url", pc.URL, "regions", pc.Regions)
	}
	log.Info("peering: serving peers (mutual TLS)", "addr", p.ln.Addr().String())
	p.srv.Handler = p.link.Handler(svc)
	go func() { p.done <- p.srv.ServeTLS(p.ln, "", "") }()
}

// close stops the peering listener.
func (p *peering) close() {
	if p == nil {
		return
	}
	p.srv.Close()
	p.ln.Close()
}

// runPeeringSync starts the periodic SyncMultiRegionKeys of a deployment
// with peers.
func (s *Server) runPeeringSync() {
	if s.peering == nil {
		return
	}
	every := s.cfg.Peering.SyncInterval
	if every <= 0 {
		every = time.Minute
	}
	s.every("sync-multi-region-keys", every, func(ctx context.Context) error {
		_, err := s.svc.SyncMultiRegionKeys(ctx)
		return err
	})
}

// PeeringAddr returns the address of the peering listener, "" without one.
func (s *Server) PeeringAddr() string {
	if s.peering == nil {
		return ""
	}
	return s.peering.ln.Addr().String()
}
