// Package kubeapi starts a real etcd and kube-apiserver on 127.0.0.1 for
// tests. The binaries are built once from the Go module proxy by build.sh and
// cached outside the repository; Start finds them there.
//
// The API server has no kubelet and no controller-manager: tests create
// EndpointSlices themselves and namespaces are never finalized.
package kubeapi

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Versions built by build.sh; the cache folder is named after them.
const (
	KubernetesVersion = "v1.37.2"
	EtcdVersion       = "v3.6.16"
)

// Users that Start provisions in the token file. Admin is in
// system:masters; the others have no groups and no permissions until a test
// binds a role to them.
var Users = []string{"admin", "weir", "weir-2"}

// BinDir returns the folder that holds etcd and kube-apiserver:
// $WEIR_KUBEAPI_BIN if set, else the versioned folder under
// $WEIR_KUBEAPI_CACHE (default /var/cache/weir-test), as build.sh writes it.
func BinDir() string {
	if d := os.Getenv("WEIR_KUBEAPI_BIN"); d != "" {
		return d
	}
	root := os.Getenv("WEIR_KUBEAPI_CACHE")
	if root == "" {
		root = "/var/cache/weir-test"
	}
	return filepath.Join(root, "k8s-"+KubernetesVersion+"-etcd-"+EtcdVersion)
}

// Server is a running etcd and kube-apiserver pair.
type Server struct {
	// URL is the API server's https URL on 127.0.0.1.
	URL string
	// Kubeconfig is the path of a kubeconfig file for the admin user.
	Kubeconfig string

	t        testing.TB
	dir      string
	bin      string
	caPEM    []byte
	tokens   map[string]string
	etcdURL  string
	apiPort  int
	mu       sync.Mutex
	etcd     *proc
	api      *proc
	stopOnce sync.Once
}

// Start builds nothing: it starts etcd and kube-apiserver from BinDir on
// free ports of 127.0.0.1 with their data in a temporary folder, waits until
// the API server is ready (up to 60 s) and stops both and removes the folder
// in t.Cleanup. When the binaries are missing it skips the test, or fails it
// when CI is set; test/kubeapi/build.sh builds them.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := BinDir()
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			msg := fmt.Sprintf("%s not built in %s: run test/kubeapi/build.sh", b, bin)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	dir, err := os.MkdirTemp("", "weir-kubeapi-")
	if err != nil {
		t.Fatalf("make kubeapi dir: %v", err)
	}
	s := &Server{t: t, dir: dir, bin: bin, tokens: map[string]string{}}
	t.Cleanup(s.stop)
	if err := s.prepare(); err != nil {
		t.Fatalf("prepare kubeapi: %v", err)
	}
	// A free port is free when picked, not when the process binds it: a
	// test binary running beside this one may take it in between. A start
	// that failed on a port in use tries again with new ones.
	for try := 1; ; try++ {
		err := s.startEtcd(try)
		if err == nil {
			break
		}
		if try == bindTries || !portTaken(filepath.Join(dir, "etcd.log")) {
			t.Fatalf("start etcd: %v\n%s", err, tail(filepath.Join(dir, "etcd.log")))
		}
		s.etcd.kill() // exited: closes its log
	}
	for try := 1; ; try++ {
		s.apiPort = freePort(t)
		s.URL = "https://127.0.0.1:" + strconv.Itoa(s.apiPort)
		err := s.StartAPIServer()
		if err == nil {
			break
		}
		if try == bindTries || !portTaken(filepath.Join(dir, "apiserver.log")) {
			t.Fatalf("start kube-apiserver: %v\n%s", err, tail(filepath.Join(dir, "apiserver.log")))
		}
		s.api.kill()
	}
	s.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := s.WriteKubeconfig(s.Kubeconfig, "admin"); err != nil {
		t.Fatalf("write kubeconfig: %v", err)
	}
	return s
}

// Config returns a rest.Config for the admin user (system:masters).
func (s *Server) Config() *rest.Config { return s.ConfigFor("admin") }

// ConfigFor returns a rest.Config for one of Users.
func (s *Server) ConfigFor(user string) *rest.Config {
	tok, ok := s.tokens[user]
	if !ok {
		s.t.Fatalf("kubeapi: unknown user %q (have %v)", user, Users)
	}
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     tok,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.caPEM},
		QPS:             1000,
		Burst:           2000,
		Timeout:         30 * time.Second,
	}
}

// Client returns an admin clientset.
func (s *Server) Client() kubernetes.Interface {
	c, err := kubernetes.NewForConfig(s.Config())
	if err != nil {
		s.t.Fatalf("kubeapi client: %v", err)
	}
	return c
}

// WriteKubeconfig writes a kubeconfig file for one of Users to path.
func (s *Server) WriteKubeconfig(path, user string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeapi"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: s.caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: s.tokens[user]}
	cfg.Contexts["kubeapi"] = &clientcmdapi.Context{Cluster: "kubeapi", AuthInfo: user}
	cfg.CurrentContext = "kubeapi"
	return clientcmd.WriteToFile(*cfg, path)
}

// prepare writes the token file, the service-account key pair and a CA with
// a serving certificate for 127.0.0.1.
func (s *Server) prepare() error {
	var tokens strings.Builder
	for _, u := range Users {
		tok := randHex(16)
		s.tokens[u] = tok
		group := ""
		if u == "admin" {
			group = "system:masters"
		}
		fmt.Fprintf(&tokens, "%s,%s,%s,\"%s\"\n", tok, u, u, group)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "tokens.csv"), []byte(tokens.String()), 0o600); err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	if err := writePEM(filepath.Join(s.dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return fmt.Errorf("marshal service account key: %w", err)
	}
	if err := writePEM(filepath.Join(s.dir, "sa.pub"), "PUBLIC KEY", pub); err != nil {
		return err
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate ca key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "weir-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create ca: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(filepath.Join(s.dir, "ca.crt"), s.caPEM, 0o644); err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate serving key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create serving certificate: %w", err)
	}
	if err := writePEM(filepath.Join(s.dir, "serving.crt"), "CERTIFICATE", srvDER); err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return fmt.Errorf("marshal serving key: %w", err)
	}
	return writePEM(filepath.Join(s.dir, "serving.key"), "EC PRIVATE KEY", keyDER)
}

// testHookEtcdPort, set by a test, sees each client port etcd is about
// to be started on (it may take it).
var testHookEtcdPort func(port int)

// bindTries is how many times Start starts etcd or kube-apiserver on new
// ports when the last try's were taken.
const bindTries = 3

// portTaken reports whether the log says a port was in use.
func portTaken(log string) bool {
	b, _ := os.ReadFile(log)
	return strings.Contains(string(b), "address already in use")
}

// startEtcd starts etcd on new ports with the data of try (a try that
// failed may have left its own).
func (s *Server) startEtcd(try int) error {
	client, peer := freePort(s.t), freePort(s.t)
	if testHookEtcdPort != nil {
		testHookEtcdPort(client)
	}
	s.etcdURL = "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := s.command("etcd", "etcd.log",
		"--name=weir-test",
		"--data-dir="+filepath.Join(s.dir, "etcd"+strconv.Itoa(try)),
		"--listen-client-urls="+s.etcdURL,
		"--advertise-client-urls="+s.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=weir-test="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.etcd = p
	s.mu.Unlock()
	// A timeout: whatever holds a taken port may accept and never answer.
	hc := &http.Client{Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	return waitHTTP(p, 30*time.Second, func() bool {
		resp, err := hc.Get(s.etcdURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StartAPIServer starts kube-apiserver on the Server's port and waits until
// /readyz answers ok (up to 60 s). Start calls it; tests call it again after
// StopAPIServer to bring the same API server back on the same port and data.
func (s *Server) StartAPIServer() error {
	d := s.dir
	p, err := s.command("kube-apiserver", "apiserver.log",
		"--etcd-servers="+s.etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(s.apiPort),
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+filepath.Join(d, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(d, "serving.key"),
		"--client-ca-file="+filepath.Join(d, "ca.crt"),
		"--token-auth-file="+filepath.Join(d, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(d, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true", // as kubeadm clusters: the DaemonSet is privileged
		"--cert-dir="+filepath.Join(d, "certs"),
		"--v=0",
	)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.api = p
	s.mu.Unlock()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(s.caPEM)}}}
	defer hc.CloseIdleConnections()
	return waitHTTP(p, 60*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.tokens["admin"])
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// StopAPIServer stops kube-apiserver (etcd keeps running) and waits for it
// to exit.
func (s *Server) StopAPIServer() {
	s.mu.Lock()
	p := s.api
	s.api = nil
	s.mu.Unlock()
	p.kill()
}

func (s *Server) stop() {
	s.stopOnce.Do(func() {
		if s.t.Failed() {
			s.t.Logf("kube-apiserver log tail:\n%s", tail(filepath.Join(s.dir, "apiserver.log")))
		}
		s.StopAPIServer()
		s.mu.Lock()
		etcd := s.etcd
		s.etcd = nil
		s.mu.Unlock()
		etcd.kill()
		os.RemoveAll(s.dir)
	})
}

// proc is a started child process.
type proc struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed once the process has exited
}

// command starts a binary with its output appended to a log file in the
// Server's folder. The child is killed if the test process dies.
func (s *Server) command(name, logName string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(s.dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig fires when the creating thread exits: keep it alive.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitHTTP polls ready every 100 ms until it is true, the process exits or
// the timeout passes.
func waitHTTP(p *proc, timeout time.Duration, ready func() bool) error {
	name := filepath.Base(p.cmd.Path)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v", name, timeout)
}

// kill stops the process group with SIGTERM, then SIGKILL after 10 s, and
// waits for the process to exit. A nil proc is a no-op.
func (p *proc) kill() {
	if p == nil {
		return
	}
	defer p.log.Close()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func pool(caPEM []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(caPEM)
	return p
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return errors.Unwrap(err).Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}
