package datapath

import (
	"fmt"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Refuse makes the reuseport group of the listening socket sock (an
// *os.File or a *net.TCPListener) refuse every
// new connection at once: it attaches an SK_REUSEPORT program that answers
// SK_DROP, for which the kernel finds no listener and answers the SYN with a
// RST. Connections already in the group's accept queues stay there, to be
// accepted and served; so do handshakes under way. The program replaces the
// group's (SteerByCore's) and stays attached until the group closes. It
// needs CAP_BPF (root).
func Refuse(sock syscall.Conn) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "weir_refuse",
		Type:    ebpf.SkReuseport,
		License: "Dual MIT/GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 0), // SK_DROP
			asm.Return(),
		},
	})
	if err != nil {
		return fmt.Errorf("load refusing sk_reuseport program: %w", verifierDetail(err))
	}
	defer prog.Close() // the group holds its own reference
	raw, err := sock.SyscallConn()
	if err != nil {
		return fmt.Errorf("attach refusing sk_reuseport program: %w", err)
	}
	if cerr := raw.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, prog.FD())
	}); cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("attach refusing sk_reuseport program: %w", err)
	}
	return nil
}
