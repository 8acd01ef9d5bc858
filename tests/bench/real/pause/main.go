// pause: the sandbox ("infra") container of the real-kubelet bench's pods.
//
// It holds the pod's namespaces open and does nothing else: it waits for SIGINT or SIGTERM
// and exits 0. As PID 1 of the sandbox it also reaps zombie children (Go's runtime does not
// do that by itself, so it asks for SIGCHLD and waits on any child).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
