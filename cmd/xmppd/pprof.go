package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves the net/http/pprof handlers on addr, for profiling
// (docs/performance.md). It is opt-in (serve -pprof ADDR) and uses its own
// mux, so nothing is registered on http.DefaultServeMux. The endpoint has no
// authentication: bind it to loopback.
func startPprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn("pprof profiling endpoint enabled", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil {
			log.Warn("pprof endpoint stopped", "err", err)
		}
	}()
	return nil
}
