package upgrade

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// offered is a live side offering one TCP listening socket.
type offered struct {
	ln               *net.TCPListener
	srv              *Server
	logs             *testutil.SyncBuffer
	released, handed atomic.Int32
	path             string
}

func offer(t *testing.T) *offered {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	o := &offered{ln: ln, logs: &testutil.SyncBuffer{}, path: filepath.Join(t.TempDir(), "upgrade.sock")}
	o.srv, err = Listen(o.path, Offer{
		Files: func() ([]*os.File, []string, error) {
			f, err := ln.File()
			return []*os.File{f}, []string{"http"}, err
		},
		Release:    func() { o.released.Add(1) },
		HandedOver: func() { o.handed.Add(1) },
		Logger:     slog.New(slog.NewTextHandler(o.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.srv.Close() })
	return o
}

// sameSocket checks that the received file is o's listening socket: a
// connection to o's address is accepted from it.
func (o *offered) sameSocket(t *testing.T, f *os.File) {
	t.Helper()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", o.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	a, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept from the received socket: %v", err)
	}
	a.Close()
}

// A connection that asks for nothing (the second Listen's probe) gets
// nothing; Take gets the very socket; Serving makes the live side release
// the data path, stop offering and hand over, in that order of calls.
func TestHandover(t *testing.T) {
	t.Parallel()
	o := offer(t)
	if _, err := Listen(o.path, Offer{}); err == nil || !strings.Contains(err.Error(), "another running weir") {
		t.Errorf("a second Listen on %s: %v, want refused", o.path, err)
	}
	take, err := Take(o.path)
	if err != nil {
		t.Fatal(err)
	}
	defer take.Close()
	if len(take.Files) != 1 || take.Names[0] != "http" || take.PID != os.Getpid() {
		t.Fatalf("took %d files %v from pid %d", len(take.Files), take.Names, take.PID)
	}
	o.sameSocket(t, take.Files[0])
	if o.released.Load() != 0 || o.handed.Load() != 0 {
		t.Fatal("the live side released or handed over before the new side served")
	}
	if err := take.Serving(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Released before it answered; handed over right after.
	if o.released.Load() != 1 {
		t.Errorf("after serving: released %d times, want 1", o.released.Load())
	}
	testutil.WaitFor(t, 5*time.Second, "the live side handing over", func() bool { return o.handed.Load() == 1 })
	if _, err := os.Stat(o.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the offer's socket file after the handover: %v, want removed (the new weir offers next)", err)
	}
	if logs := o.logs.String(); strings.Contains(logs, "abandoned") {
		t.Errorf("a probe was logged as an abandoned upgrade:\n%s", logs)
	}
}

// A new side that goes away before it serves changes nothing: the live side
// logs it and offers its sockets again.
func TestHandoverAbandoned(t *testing.T) {
	t.Parallel()
	o := offer(t)
	take, err := Take(o.path)
	if err != nil {
		t.Fatal(err)
	}
	take.Files[0].Close()
	take.Close()
	testutil.WaitFor(t, 5*time.Second, "the abandoned upgrade logged", func() bool {
		return strings.Contains(o.logs.String(), "upgrade abandoned")
	})
	if o.released.Load() != 0 || o.handed.Load() != 0 {
		t.Fatal("the live side released or handed over for an abandoned upgrade")
	}
	again, err := Take(o.path)
	if err != nil {
		t.Fatalf("take after an abandoned upgrade: %v", err)
	}
	defer again.Close()
	o.sameSocket(t, again.Files[0])
}

// TestSocketOwnerOnly: the upgrade socket is its owner's alone (mode
// 0600, whatever the umask), and a process of another user that reaches it
// anyway (the socket opened up again here) gets no socket: whoever takes
// them serves the node's ports and owns its data path.
func TestSocketOwnerOnly(t *testing.T) {
	o := offer(t)
	fi, err := os.Stat(o.path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("upgrade socket mode %o, want 600", mode)
	}
	testutil.RequirePrivileged(t)
	if err := os.Chmod(o.path, 0o777); err != nil {
		t.Fatal(err)
	}
	// The other user needs to reach the socket and run this test binary:
	// both sit in folders of mode 0700 (t.TempDir's two levels, go test's).
	for _, dir := range []string{filepath.Dir(o.path), filepath.Dir(filepath.Dir(o.path))} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(filepath.Dir(o.path), "upgrade.test")
	self, err := os.ReadFile(os.Args[0])
	if err == nil {
		err = os.WriteFile(bin, self, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	cmd := exec.Command(bin, "-test.run=^TestTakeHelper$")
	cmd.Env = append(os.Environ(), "WEIR_UPGRADE_TAKE="+o.path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("take as user %d: %v\n%s", nobody, err, out)
	}
	if !strings.Contains(string(out), "refused:") {
		t.Errorf("a process of user %d: %s; want refused", nobody, out)
	}
	if !strings.Contains(o.logs.String(), "upgrade refused") || o.released.Load() != 0 {
		t.Errorf("the live side did not refuse the other user (released %d): %s", o.released.Load(), o.logs.String())
	}
	take, err := Take(o.path) // its own user still takes them
	if err != nil {
		t.Fatal(err)
	}
	defer take.Close()
	o.sameSocket(t, take.Files[0])
}

// TestTakeHelper is TestSocketOwnerOnly's process of another user.
func TestTakeHelper(t *testing.T) {
	path := os.Getenv("WEIR_UPGRADE_TAKE")
	if path == "" {
		t.Skip("run by TestSocketOwnerOnly")
	}
	take, err := Take(path)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println("took", len(take.Files), "sockets")
	take.Close()
}
