//go:build !linux

package kubelocal

import "syscall"

// dieWithParent is Linux-only; elsewhere Stop is all there is.
func dieWithParent() *syscall.SysProcAttr { return nil }
