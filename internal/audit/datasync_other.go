//go:build !linux

package audit

import "syscall"

func datasync(fd int) error {
	for {
		if err := syscall.Fsync(fd); err != syscall.EINTR {
			return err
		}
	}
}
