//go:build !linux

package main

import "os"

// readNoEcho reads one line from the terminal f. Echo is only turned off
// on Linux; elsewhere pipe the password in or use --password.
func readNoEcho(f *os.File) ([]byte, error) { return readLine(f) }
