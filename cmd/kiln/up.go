package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/kiln"
)

func init() {
	register("up", command{summary: "serve every AWS endpoint on one port", run: runUp})
}

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", kiln.DefaultDataDir(), "data directory")
	listen := fs.String("listen", "127.0.0.1:4566", "address to serve on (HOST:PORT)")
	logLevel := fs.String("log-level", "info", "log level: debug (every request), info, warn, error")
	instances := fs.Bool("instances", true, "run EC2 instances (containerd, network, metadata service; needs root)")
	containerdAddr := fs.String("containerd-address", "", "use this containerd socket instead of starting kiln's own")
	nat := fs.Bool("nat", true, "outbound NAT for instances (so builds reach package mirrors)")
	bridge := fs.String("bridge", "kiln0", "host bridge of the instance network")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "kiln up: bad --log-level %q\n", *logLevel)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	k, err := kiln.Open(kiln.Options{DataDir: *dataDir, Log: log})
	if err != nil {
		log.Error("open data directory", "dir", *dataDir, "err", err)
		return 1
	}
	defer k.Close()
	created, err := k.EnsureAdmin(ctx)
	if err != nil {
		log.Error("create admin account", "err", err)
		return 1
	}
	if *instances && os.Geteuid() != 0 {
		log.Warn("not root: EC2 instances are disabled (run as root, or pass --instances=false to silence this)")
		*instances = false
	}
	if *instances {
		st, err := k.StartInstances(ctx, kiln.InstanceOptions{ContainerdAddress: *containerdAddr, NAT: *nat, Bridge: *bridge})
		if err != nil {
			log.Error("start instances", "err", err)
			return 1
		}
		defer st.Close()
		log.Info("instances ready", "imds", st.IMDS.String())
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen", "addr", *listen, "err", err)
		return 1
	}
	endpoint := "http://" + ln.Addr().String()
	if created {
		log.Info("created the admin account", "profile", kiln.AdminProfile, "credentials", kiln.CredentialsPath(*dataDir))
	}
	fmt.Fprintf(stdout, "kiln is serving every AWS API at %s\nTo use it:\n%s", endpoint,
		indent(account.EnvLines(kiln.CredentialsPath(*dataDir), kiln.AdminProfile, endpoint, "us-east-1")))
	log.Info("ready", "listen", ln.Addr().String(), "data_dir", *dataDir)
	if err := k.Serve(ctx, ln); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
