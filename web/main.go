// Command nimbus is the controller: the portal and the OpenStack APIs on
// one port, the console proxy on another, and the controller workers.
// It is stateless; run as many as you like behind a load balancer. The
// controller itself is assembled in internal/controller.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nimbus-cloud/nimbus/internal/controller"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := controller.Run(ctx, os.Args[1:], os.LookupEnv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "nimbus:", err)
		os.Exit(1)
	}
}
