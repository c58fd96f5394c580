package kubelocal

import "syscall"

// dieWithParent has the kernel kill a process when the process that
// started it dies, even by SIGKILL or a panic.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
