// Command pause is PID 1 of every pod sandbox on the VM node: it holds the pod's namespaces and sleeps until it is
// told to stop. As PID 1 of its PID namespace it has no default signal handlers, so it installs its own.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
}
