package server

import (
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// countConnections counts the connections the KMS listener accepts in
// trent_http_connections_total. Clients that reuse their connections (the
// AWS SDKs do, with HTTP keep-alive) keep it flat; a rising rate means
// clients reconnect, and over TLS each reconnection costs a handshake.
func (s *Server) countConnections() {
	opened := prometheus.NewCounter(prometheus.CounterOpts{Name: "trent_http_connections_total",
		Help: "Connections accepted by the KMS API listener (each costs a TLS handshake when TLS is on)."})
	s.reg.MustRegister(opened)
	s.http.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Inc()
		}
	}
}
