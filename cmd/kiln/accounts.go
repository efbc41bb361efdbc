package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/kiln"
)

func init() {
	register("accounts", command{summary: "create and list accounts (kiln accounts create NAME | list)", run: runAccounts})
}

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: kiln accounts create NAME [--account-id ID] [--access-key-id K] [--secret-access-key S] [--data-dir DIR]\n       kiln accounts list [--data-dir DIR]")
		return 2
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("kiln accounts "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", kiln.DefaultDataDir(), "data directory")
	var opts account.CreateOptions
	var name string
	if sub == "create" {
		fs.StringVar(&opts.AccountID, "account-id", "", "12-digit account ID (default: random)")
		fs.StringVar(&opts.AccessKeyID, "access-key-id", "", "access key ID (default: random)")
		fs.StringVar(&opts.SecretAccessKey, "secret-access-key", "", "secret access key (default: random)")
		// NAME may come before or after the flags.
		if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
			name, rest = rest[0], rest[1:]
		}
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	k, err := kiln.Open(kiln.Options{DataDir: *dataDir})
	if err != nil {
		fmt.Fprintln(stderr, "kiln accounts:", err)
		return 1
	}
	defer k.Close()
	switch sub {
	case "create":
		if name == "" && fs.NArg() == 1 {
			name = fs.Arg(0)
		}
		if name == "" {
			fmt.Fprintln(stderr, "kiln accounts create: NAME is required")
			return 2
		}
		acct, key, err := k.Accounts.Create(ctx, name, opts)
		if err != nil {
			fmt.Fprintln(stderr, "kiln accounts create:", err)
			return 1
		}
		path := kiln.CredentialsPath(*dataDir)
		if err := account.AppendProfile(path, name, key); err != nil {
			fmt.Fprintln(stderr, "kiln accounts create: writing credentials:", err)
			return 1
		}
		fmt.Fprintf(stdout, "created account %s (%s); profile %q added to %s\n", acct.Name, acct.ID, name, path)
		return 0
	case "list":
		accts, err := k.Accounts.List(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "kiln accounts list:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCOUNT ID\tNAME\tCREATED")
		for _, a := range accts {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Name, a.Created.Format("2006-01-02T15:04:05Z"))
		}
		tw.Flush()
		return 0
	}
	fmt.Fprintf(stderr, "kiln accounts: unknown subcommand %q\n", sub)
	return 2
}
