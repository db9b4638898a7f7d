package main

import (
	"fmt"
	"sync"
	"time"
)

// runConns opens cfg.conns idle connections (CONNECT, clean session, no
// keepalive) from cfg.dialers goroutines and reports the connect rate and,
// given the broker's pid, its resident memory per connection: the growth
// of VmRSS from before the first connection to cfg.settle after the last,
// divided by the number of connections.
func runConns(cfg config) (*Result, error) {
	res := &Result{Scenario: "conns", Addr: cfg.addr, Version: int(cfg.version), Conns: cfg.conns}
	var before procSample
	if cfg.pid > 0 {
		var err error
		if before, err = readProc(cfg.pid); err != nil {
			return nil, err
		}
		res.RSSBeforeBytes = before.rssBytes
	}
	runID := newRunID()
	conns := make([]*mqttConn, cfg.conns)
	defer func() {
		var wg sync.WaitGroup
		for part := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := part; i < len(conns); i += 16 {
					if conns[i] != nil {
						conns[i].Close()
					}
				}
			}()
		}
		wg.Wait()
	}()

	start := time.Now()
	err := parallel(cfg.conns, cfg.dialers, func(i int) error {
		mc, err := dialMQTT(cfg.tr, cfg.addr, cfg.version, fmt.Sprintf("mb-%s-c%d", runID, i), cfg.timeout)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns[i] = mc
		return nil
	})
	elapsed := time.Since(start)
	if err != nil {
		return nil, err
	}
	res.Seconds = elapsed.Seconds()
	res.ConnectsPerSec = float64(cfg.conns) / elapsed.Seconds()

	if cfg.pid > 0 {
		time.Sleep(cfg.settle)
		after, err := readProc(cfg.pid)
		if err != nil {
			return nil, err
		}
		res.RSSAfterBytes = after.rssBytes
		res.BrokerRSSBytes = after.rssBytes
		if after.rssBytes > before.rssBytes {
			res.RSSPerConnBytes = float64(after.rssBytes-before.rssBytes) / float64(cfg.conns)
		}
		res.BrokerCPUUSPerConnect = float64(after.cpuTicks-before.cpuTicks) / clockTicks * 1e6 / float64(cfg.conns)
	}
	return res, nil
}
