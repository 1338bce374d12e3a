package app

import (
	"github.com/autoremediate/autoremediate/remediation"
	"github.com/autoremediate/autoremediate/sweep"
)

// NewSweeper wires a sweeper from the same settings, clients and handler
// as the event path: the definitions of cfg list the resources, and h
// (from NewHandler) supplies the registry, modes and publisher. Install a
// sweep.RateLimiter on the aws.Config before building c.
func NewSweeper(cfg Config, c *Clients, h *remediation.Handler) *sweep.Sweeper {
	return &sweep.Sweeper{Definitions: cfg.Definitions, Clients: c, STS: c.STS(), Handler: h, Region: c.Config().Region}
}
