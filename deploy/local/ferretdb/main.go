// Command ferretdb-local runs FerretDB v1 embedded, with the SQLite backend, for the local stack.
//
// `go install github.com/FerretDB/FerretDB/cmd/ferretdb` builds but panics at start because the
// version file is generated at release time and is not part of the module; the embeddable
// package sets its own version and avoids that.
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when -pprof is given: where FerretDB's CPU goes under a benchmark
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (empty: no plain listener)")
	listenTLS := flag.String("listen-tls", "", "TCP address for TLS connections (empty: no TLS listener)")
	tlsCert := flag.String("tls-cert", "", "PEM certificate of the TLS listener")
	tlsKey := flag.String("tls-key", "", "PEM key of the TLS listener")
	tlsCA := flag.String("tls-ca", "", "PEM CA bundle to verify client certificates (empty: none required)")
	dataDir := flag.String("data-dir", "data", "directory for the SQLite files")
	pprof := flag.String("pprof", "", "TCP address for Go's /debug/pprof (empty: off); e.g. 127.0.0.1:6060")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	dir, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		logger.Error("cannot prepare the data directory", "dir", *dataDir, "error", err)
		os.Exit(1)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{
			TCP:         *listen,
			TLS:         *listenTLS,
			TLSCertFile: *tlsCert,
			TLSKeyFile:  *tlsKey,
			TLSCAFile:   *tlsCA,
		},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		os.Exit(1)
	}

	if *pprof != "" {
		go func() { logger.Warn("pprof stopped", "error", http.ListenAndServe(*pprof, nil)) }() //nolint:gosec // local only
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.Info("FerretDB listening", "address", *listen, "tls", *listenTLS, "data", dir)
	f.Run(ctx)
}
