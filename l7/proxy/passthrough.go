package proxy

import "github.com/weir-lb/weir/l7/router"

// Router returns the live Router, nil before the first Apply: the
// configuration l7/passthrough reads the ssl-passthrough hosts from.
func (p *Proxy) Router() *router.Router { return p.router.Load() }
