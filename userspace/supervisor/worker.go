package supervisor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/weir-lb/weir/l7/drain"
	workerpkg "github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/userspace/nginxmetrics"
)

// Restart backoff: the first restart after minBackoff, doubling to
// maxBackoff; a worker that ran healthy for resetAfter starts over.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
	resetAfter = 10 * time.Second
	// gatherTimeout bounds one metrics request to a worker.
	gatherTimeout = 5 * time.Second
)

// worker is the supervisor's side of one worker process.
type worker struct {
	sup   *Supervisor
	index int
	cpu   int
	label string // the worker label of its metrics: the core

	// mu serialises exchanges on the control socket and guards the rest.
	mu       sync.Mutex
	conn     net.Conn // nil while the process is not running
	r        *bufio.Reader
	proc     *os.Process
	version  uint64
	restarts int
	since    time.Time
}

func (w *worker) status() WorkerStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := WorkerStatus{CPU: w.cpu, Version: w.version, Restarts: w.restarts, Since: w.since}
	if w.proc != nil {
		st.PID = w.proc.Pid
	}
	return st
}

// supervise runs the worker process until ctx is done, restarting it with
// backoff each time it exits.
func (w *worker) supervise(ctx context.Context) {
	log := w.sup.log.With("worker", w.cpu)
	backoff := minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := w.run(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) >= resetAfter {
			backoff = minBackoff
		}
		log.Warn("worker exited: restarting with the same sockets", "error", err, "after", backoff)
		w.sup.mRestarts.WithLabelValues(w.label).Inc()
		w.mu.Lock()
		w.restarts++
		w.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// run starts one worker process, gives it the latest Snapshot, and waits
// for it to exit; when ctx is done it stops the process (stop).
func (w *worker) run(ctx context.Context) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control-worker")
	conn, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		child.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	cmd := w.command()
	cmd.ExtraFiles = []*os.File{child, w.sup.http.files[w.index], w.sup.https.files[w.index]}
	if t := w.sup.connTable; t != nil {
		// The counts the previous process left (it died) are taken back
		// before its successor counts in the same slot.
		t.Reclaim(w.index)
		cmd.ExtraFiles = append(cmd.ExtraFiles, t.File()) // workerpkg.FDConnTable
		cmd.Args = append(cmd.Args, "--conn-table-slot", strconv.Itoa(w.index))
	}
	err = startPinned(cmd, w.cpu)
	child.Close()
	if err != nil {
		conn.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	w.mu.Lock()
	w.conn, w.r, w.proc, w.version, w.since = conn, bufio.NewReader(conn), cmd.Process, 0, time.Time{}
	w.mu.Unlock()
	w.sup.mLive.Inc()
	defer func() {
		w.mu.Lock()
		w.conn.Close()
		w.conn, w.r, w.proc, w.version, w.since = nil, nil, nil, 0, time.Time{}
		w.mu.Unlock()
		w.sup.mLive.Dec()
	}()

	w.sendTickets()
	if err := w.push(); err != nil {
		w.sup.log.Error("worker did not take the configuration: restarting it", "worker", w.cpu, "error", err)
	} else if st := w.status(); st.Version > 0 {
		w.sup.log.Info("worker serving", "worker", w.cpu, "pid", st.PID, "version", st.Version)
	}

	select {
	case err := <-exited:
		return err
	case <-ctx.Done():
		return w.stop(exited)
	}
}

// stop makes the worker drain (MsgDrain, or SIGTERM when the control
// socket fails) and waits for it to exit: the drain's timeout and 10
// seconds more, then it is killed.
func (w *worker) stop(exited <-chan error) error {
	d := w.sup.drain
	if d.Timeout <= 0 {
		d.Timeout = drain.DefaultTimeout
	}
	w.mu.Lock()
	w.conn.SetWriteDeadline(time.Now().Add(w.sup.cfg.AckTimeout))
	err := workerpkg.WriteJSON(w.conn, workerpkg.MsgDrain, d)
	w.conn.SetWriteDeadline(time.Time{})
	proc := w.proc
	w.mu.Unlock()
	if err != nil {
		w.sup.log.Warn("tell the worker to drain: sending SIGTERM", "worker", w.cpu, "error", err)
		proc.Signal(syscall.SIGTERM)
	}
	t := time.NewTimer(d.Timeout + 10*time.Second)
	defer t.Stop()
	select {
	case err := <-exited:
		return err
	case <-t.C:
		w.sup.log.Error("worker did not exit after its drain: killing it", "worker", w.cpu, "pid", proc.Pid)
		proc.Kill()
		return <-exited
	}
}

func (w *worker) command() *exec.Cmd {
	argv := w.sup.cfg.Command
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		argv = []string{exe, "worker"}
	}
	cfg := w.sup.cfg
	args := append(append([]string(nil), argv[1:]...),
		"--cpu", strconv.Itoa(w.cpu),
		"--https-port", strconv.Itoa(int(w.sup.https.addr.Port())),
		"--access-log="+strconv.FormatBool(cfg.AccessLog != nil),
		"--log-format", cfg.LogFormat, "--log-level", cfg.LogLevel,
		"--uid", strconv.Itoa(cfg.WorkerUID), "--gid", strconv.Itoa(cfg.WorkerGID))
	if cfg.HTTP1Server != "" {
		args = append(args, "--http1-server="+cfg.HTTP1Server)
	}
	if nginxmetrics.OptionsOrDefault(cfg.RequestMetrics).CountUndefinedHosts() {
		args = append(args, "--metrics-undefined-hosts")
	}
	cmd := exec.Command(argv[0], args...)
	cmd.Env = append(append(os.Environ(), cfg.Env...), "GOMAXPROCS=1")
	cmd.Stdout = cfg.AccessLog
	cmd.Stderr = cfg.WorkerLog
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	// The worker also exits when its control socket closes; this covers a
	// supervisor killed with SIGKILL. Its own process group keeps a
	// terminal's ^C from reaching it: the supervisor drains it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// WorkerTimerSlack is the timer slack (prctl PR_SET_TIMERSLACK) a worker
// process starts with, instead of Linux's 50 µs. A worker's Go runtime runs
// sysmon on the worker's own core: each time the worker comes back from
// idle, sysmon wakes and polls every 20 µs (usleep) for a millisecond or
// more. With the load generator and a backend sharing that core, the worker
// goes idle and wakes thousands of times a second, and those polls were a
// third of its context switches (0.24 nanosleep and 0.35 context switches
// per keep-alive request of 0.7, wrk -t2 -c64 over --workers auto). The
// slack lets the kernel fire such a timer up to 1 ms late, together with
// other expiries: sysmon then polls about once a millisecond while busy.
// What else it delays by up to as much: Go timers (deadlines and keep-alive
// timeouts, already waited for in whole milliseconds by the runtime's
// epoll_pwait) and, when a system call blocks, the moment sysmon hands the
// worker's only P to another thread.
const WorkerTimerSlack = time.Millisecond

// startPinned starts cmd on core cpu only, with WorkerTimerSlack: the
// calling thread takes that affinity and that slack for the fork, so the
// child inherits them from its first instruction (taskset-like), then gets
// its own back. Every thread the child's runtime makes inherits them too.
func startPinned(cmd *exec.Cmd, cpu int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return fmt.Errorf("read affinity: %w", err)
	}
	oldSlack, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("read timer slack: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to core %d: %w", cpu, err)
	}
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(WorkerTimerSlack.Nanoseconds()), 0, 0, 0); err != nil {
		err = fmt.Errorf("set timer slack: %w", err)
		if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore affinity: %w", rerr))
		}
		return err
	}
	err = cmd.Start()
	if rerr := unix.SchedSetaffinity(0, &old); rerr != nil {
		err = errors.Join(err, fmt.Errorf("restore affinity: %w", rerr))
	}
	if rerr := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(oldSlack), 0, 0, 0); rerr != nil {
		err = errors.Join(err, fmt.Errorf("restore timer slack: %w", rerr))
	}
	return err
}

// desync is called, with w.mu held, when an exchange on the control socket
// failed part-way (a timeout, a short write, an unexpected frame): the
// stream can no longer be trusted to be at a frame boundary, so the socket is
// closed and the worker killed; it is restarted with the same listening
// sockets. Callers hold w.mu.
func (w *worker) desync() {
	if w.conn != nil {
		w.conn.Close()
	}
	if w.proc != nil {
		w.proc.Kill()
	}
}

// push sends the latest Snapshot to the worker unless it has it, and waits
// for the ack: as a Delta when the worker is at the version the Delta starts
// from, whole otherwise or when the worker refuses the Delta. A worker that
// is not running gets it when it starts; one that does not answer within
// AckTimeout is killed (and so restarted).
func (w *worker) push() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.sup.latest()
	if w.conn == nil || cur == nil || w.version >= cur.version {
		return nil
	}
	if cur.delta != nil && w.version == cur.baseVersion {
		ack, err := w.exchange(workerpkg.MsgDelta, cur.delta)
		if err != nil {
			w.desync()
			return fmt.Errorf("worker %d: configuration version %d as a delta from %d: %w", w.cpu, cur.version, cur.baseVersion, err)
		}
		w.acked(ack, cur)
		if ack.Version >= cur.version {
			return nil
		}
		w.sup.log.Warn("worker refused the configuration delta: sending the whole configuration",
			"worker", w.cpu, "version", cur.version, "live", ack.Version, "error", ack.Error)
	}
	data, err := cur.encodeFull()
	if err != nil {
		return fmt.Errorf("worker %d: %w", w.cpu, err)
	}
	ack, err := w.exchange(workerpkg.MsgSnapshot, data)
	if err != nil {
		w.desync()
		return fmt.Errorf("worker %d: configuration version %d: %w", w.cpu, cur.version, err)
	}
	w.acked(ack, cur)
	if ack.Version < cur.version {
		w.sup.log.Error("worker refused the configuration: it keeps its live one",
			"worker", w.cpu, "version", cur.version, "live", ack.Version, "error", ack.Error)
	}
	return nil
}

// acked records the version the worker acknowledged for cur, and logs the
// error of a worker that took cur with errors. Callers hold w.mu.
func (w *worker) acked(ack workerpkg.Ack, cur *published) {
	if w.since.IsZero() && ack.Version > 0 {
		w.since = time.Now()
	}
	w.version = ack.Version
	if ack.Error != "" && ack.Version >= cur.version {
		w.sup.log.Warn("worker applied the configuration with errors", "worker", w.cpu, "version", ack.Version, "error", ack.Error)
	}
}

// exchange sends one configuration frame (MsgSnapshot or MsgDelta) and
// reads the worker's ack.
func (w *worker) exchange(t workerpkg.MsgType, payload []byte) (workerpkg.Ack, error) {
	var ack workerpkg.Ack
	w.conn.SetDeadline(time.Now().Add(w.sup.cfg.AckTimeout))
	defer w.conn.SetDeadline(time.Time{})
	if err := workerpkg.WriteFrame(w.conn, t, payload); err != nil {
		return ack, err
	}
	typ, resp, err := workerpkg.ReadFrame(w.r)
	if err != nil {
		return ack, fmt.Errorf("wait for ack: %w", err)
	}
	if typ != workerpkg.MsgAck {
		return ack, fmt.Errorf("wait for ack: got frame type %d", typ)
	}
	if err := json.Unmarshal(resp, &ack); err != nil {
		return ack, fmt.Errorf("decode ack: %w", err)
	}
	return ack, nil
}

// sendTickets hands the shared session ticket keys to the worker. The
// keys are read under w.mu, which orders the sends: read before it, a
// worker's start could send the keys of before a rotation after the
// rotation's own send, and that worker kept them, without the current key,
// until the next rotation (an hour by default).
func (w *worker) sendTickets() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return
	}
	cur, prev := w.sup.tickets.Keys()
	w.conn.SetWriteDeadline(time.Now().Add(w.sup.cfg.AckTimeout))
	defer w.conn.SetWriteDeadline(time.Time{})
	if err := workerpkg.WriteJSON(w.conn, workerpkg.MsgTickets, workerpkg.Tickets{Current: cur, Previous: prev}); err != nil {
		w.sup.log.Warn("send session ticket keys; restarting the worker", "worker", w.cpu, "error", err)
		w.desync()
	}
}

// Gather implements prometheus.Gatherer: the worker's metric families, each
// metric with the label worker="<core>". A worker that is not running
// contributes nothing.
func (w *worker) Gather() ([]*dto.MetricFamily, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conn == nil {
		return nil, nil
	}
	w.conn.SetDeadline(time.Now().Add(gatherTimeout))
	defer w.conn.SetDeadline(time.Time{})
	if err := workerpkg.WriteFrame(w.conn, workerpkg.MsgGather, nil); err != nil {
		w.desync()
		return nil, fmt.Errorf("gather worker %d: %w", w.cpu, err)
	}
	t, payload, err := workerpkg.ReadFrame(w.r)
	if err != nil {
		w.desync()
		return nil, fmt.Errorf("gather worker %d: %w", w.cpu, err)
	}
	if t != workerpkg.MsgMetrics {
		w.desync()
		return nil, fmt.Errorf("gather worker %d: got frame type %d", w.cpu, t)
	}
	dec := expfmt.NewDecoder(bytes.NewReader(payload), expfmt.NewFormat(expfmt.TypeProtoDelim))
	var mfs []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return mfs, fmt.Errorf("gather worker %d: decode: %w", w.cpu, err)
		}
		for _, m := range mf.Metric {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String("worker"), Value: proto.String(w.label)})
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
		mfs = append(mfs, mf)
	}
	return mfs, nil
}
