package admission

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Server is the webhook's HTTPS server.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen serves h over HTTPS on addr (":8443", "127.0.0.1:0") with the
// certificate and key of the PEM files certFile and keyFile, which are read
// again when they change (a renewed Secret). Close stops it.
func Listen(addr, certFile, keyFile string, h http.Handler, log *slog.Logger) (*Server, error) {
	certs := &certFiles{cert: certFile, key: keyFile}
	if _, err := certs.get(nil); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the validating webhook on %s: %w", addr, err)
	}
	// HTTP/1.1 only, as ingress-nginx's webhook (an empty TLSNextProto,
	// kubernetes#80313): the API server's calls need nothing of HTTP/2,
	// whose stream floods a webhook need not risk.
	var protos http.Protocols
	protos.SetHTTP1(true)
	s := &Server{
		ln:   ln,
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get},
			Protocols:         &protos,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
	go func() {
		defer close(s.done)
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("validating webhook stopped", "error", err)
		}
	}()
	log.Info("validating webhook serving", "address", ln.Addr().String())
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server and waits for it.
func (s *Server) Close() {
	s.srv.Close()
	<-s.done
}

// certFiles loads a key pair from files, again when either changes.
type certFiles struct {
	cert, key string
	mu        sync.Mutex
	stamp     [2]time.Time
	pair      *tls.Certificate
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	var stamp [2]time.Time
	for i, f := range []string{c.cert, c.key} {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("read the validating webhook's certificate: %w", err)
		}
		stamp[i] = fi.ModTime()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pair != nil && stamp == c.stamp {
		return c.pair, nil
	}
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		if c.pair != nil {
			return c.pair, nil // a renewal half written: keep the last good one
		}
		return nil, fmt.Errorf("load the validating webhook's certificate: %w", err)
	}
	c.pair, c.stamp = &pair, stamp
	return c.pair, nil
}
