package worker

import (
	"net"
	"strconv"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// connMetrics counts accepted connections by the worker's core and the
// connection's SO_INCOMING_CPU: the core whose softirq handled its packets.
// With the XDP data path both are equal for every connection.
type connMetrics struct {
	accepted *prometheus.CounterVec
}

func newConnMetrics(reg prometheus.Registerer) *connMetrics {
	m := &connMetrics{accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_worker_connections_total",
		Help: "Connections accepted by a worker, by the worker's core (cpu, -1: not pinned) and the core that handled the connection's packets (incoming_cpu: SO_INCOMING_CPU, -1: unknown).",
	}, []string{"cpu", "incoming_cpu"})}
	reg.MustRegister(m.accepted)
	return m
}

// wrap counts each connection accepted on ln.
func (m *connMetrics) wrap(ln net.Listener, cpu int) net.Listener {
	return &countingListener{Listener: ln, m: m, cpu: strconv.Itoa(cpu)}
}

type countingListener struct {
	net.Listener
	m   *connMetrics
	cpu string
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.m.accepted.WithLabelValues(l.cpu, strconv.Itoa(IncomingCPU(c))).Inc()
	return c, nil
}

// IncomingCPU returns the SO_INCOMING_CPU of a TCP connection: the core that
// processed its packets, or -1 when unknown.
func IncomingCPU(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	cpu := -1
	_ = raw.Control(func(fd uintptr) {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_INCOMING_CPU)
		if err == nil {
			cpu = v
		}
	})
	return cpu
}
