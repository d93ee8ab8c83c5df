// Package gateway puts waitroom in front of any site (docs/API.md,
// "Gateway: protecting any site"): a reverse proxy on
// net/http/httputil.ReverseProxy that serves waitroom's own routes under one
// reserved prefix, lets through only the requests of a room's routes that
// carry a live entry, and passes everything else to the site untouched.
//
// Checker is the entry check it shares with forward auth (the verify
// endpoint in internal/httpapi): an entry token, verified and cached, whose
// admission is still live in Redis (checked at most once a second per
// admission). Every instance keeps only caches: several gateways behind one
// load balancer behave as one.
package gateway
