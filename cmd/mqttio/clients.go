package main

// mqttio clients: the admin API from the command line.
//
//	mqttio clients list [--search S] [--limit N] [--json] [flags]
//	mqttio clients kick [flags] ID
//
// The node's address and token come from the same configuration layers as
// the node's own (defaults, --config FILE, MQTTIO_* environment: so
// MQTTIO_ADMIN_TOKEN or MQTTIO_ADMIN_TOKEN_FILE), and --admin, --token and
// --token-file override them.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mqttio/mqttio/admin"
)

const clientsUsage = `Usage:
  mqttio clients list [--search TEXT] [--limit N] [--json] [flags]
  mqttio clients kick [flags] CLIENT-ID

list prints the connected clients (search: part of the client id, username,
certificate CN or address). kick disconnects a client; an MQTT 5 client is
told why (DISCONNECT 0x98, administrative action). Both call the node's
admin API: its address and token are read from the node's configuration
(--config FILE, MQTTIO_ADMIN_ADDRESS, MQTTIO_ADMIN_TOKEN,
MQTTIO_ADMIN_TOKEN_FILE) unless given as flags.

Flags:
`

func runClients(args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mqttio clients", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	adminURL := fs.String("admin", "", "admin listener `URL` or host:port (default: admin.address)")
	token := fs.String("token", "", "API `token` (default: admin.token, $MQTTIO_ADMIN_TOKEN)")
	tokenFile := fs.String("token-file", "", "`file` holding the API token (default: admin.token_file)")
	configFile := fs.String("config", "", "the node's YAML configuration `file`")
	search := fs.String("search", "", "list: only clients whose id, username, CN or address contains `text`")
	limit := fs.Int("limit", 1000, "list: at most `n` clients")
	asJSON := fs.Bool("json", false, "list: print the API's JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this `duration`")
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "mqttio clients: "+format+"\n", a...)
		return code
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, clientsUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return exitOK
	}
	if err != nil {
		return fail(exitUsage, "%v (see mqttio clients --help)", err)
	}
	switch {
	case len(pos) == 1 && pos[0] == "list":
	case len(pos) == 2 && pos[0] == "kick":
	default:
		return fail(exitUsage, "want list, or kick CLIENT-ID (see mqttio clients --help)")
	}

	cfg, err := Load(LoadOptions{File: *configFile, Environ: environ, Hostname: func() (string, error) { return "cli", nil }})
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if *tokenFile != "" {
		cfg.Admin.Token, cfg.Admin.TokenFile = "", *tokenFile
	}
	tok, err := adminToken(cfg)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if *token != "" {
		tok = *token
	}
	base := *adminURL
	if base == "" {
		if cfg.Admin.Address == "" {
			return fail(exitUsage, "admin.address is empty (the admin listener is off); give --admin")
		}
		base = cfg.Admin.Address
	}
	base, err = adminBaseURL(base)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	api := &admin.APIClient{BaseURL: base, Token: tok}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	if pos[0] == "kick" {
		if err := api.Kick(ctx, pos[1]); err != nil {
			return fail(exitError, "%v", hint(err))
		}
		fmt.Fprintf(stdout, "disconnected %s\n", pos[1])
		return exitOK
	}
	list, err := api.Clients(ctx, *search, *limit)
	if err != nil {
		return fail(exitError, "%v", hint(err))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(list)
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT ID\tUSERNAME\tREMOTE\tTRANSPORT\tMQTT\tCONNECTED\tSUBS\tINFLIGHT\tQUEUED")
	for _, c := range list.Items {
		user := c.Username
		if user == "" && c.CommonName != "" {
			user = "cn=" + c.CommonName
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", printable(c.ClientID), printable(user), c.RemoteAddr,
			c.Transport, c.Protocol, c.ConnectedAt.Local().Format(time.DateTime), c.Subscriptions, c.Inflight, c.Queued)
	}
	tw.Flush()
	if list.Truncated {
		fmt.Fprintf(stdout, "(the first %d clients; narrow with --search or raise --limit)\n", list.Count)
	}
	return exitOK
}

// hint adds what to do about the usual API errors.
func hint(err error) error {
	var ae *admin.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == 401:
			return fmt.Errorf("%w (give the admin token: --token, MQTTIO_ADMIN_TOKEN or --token-file)", err)
		case ae.Status == 404 && strings.Contains(ae.Message, "admin.token"):
			return fmt.Errorf("%w (the node's API is off)", err)
		}
	}
	return err
}

// adminBaseURL turns --admin or admin.address into a URL: a listen address
// with an empty or unspecified host is dialled on loopback.
func adminBaseURL(s string) (string, error) {
	if strings.Contains(s, "://") {
		return strings.TrimSuffix(s, "/"), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %v", s, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", fmt.Errorf("admin address %q: bad port", s)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// printable keeps a client id or username chosen by a client from moving
// the terminal's cursor or changing its colours.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}
