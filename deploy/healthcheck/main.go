// Command healthcheck is the container health probe of the waitroom images.
// The final images are distroless (no shell, no curl, no wget), so Docker's
// HEALTHCHECK and Compose's healthcheck run this static binary in exec form:
//
//	healthcheck http://127.0.0.1:8080/readyz
//
// Without a URL it probes $HEALTHCHECK_URL, so that one HEALTHCHECK line
// serves every image (each sets the variable to its own port).
//
// It exits 0 when a GET of the URL answers 2xx within the timeout (default
// 2 s, flag -timeout), else 1 with the reason on stderr. Standard library
// only; the static binary is about 6 MB.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run probes the one URL in args, else HEALTHCHECK_URL, and returns the
// exit code.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: healthcheck [-timeout 2s] [URL]   (exit 0 when GET URL, default $HEALTHCHECK_URL, answers 2xx)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	url := getenv("HEALTHCHECK_URL")
	switch fs.NArg() {
	case 1:
		url = fs.Arg(0)
	case 0:
	default:
		url = ""
	}
	if url == "" {
		fs.Usage()
		return 2
	}
	if err := probe(url, *timeout); err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	return 0
}

func probe(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the probe is for this container itself.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
