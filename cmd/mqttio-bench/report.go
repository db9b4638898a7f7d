package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Result is the outcome of one run; -json prints it as is, for the
// comparison driver (bench/compare).
type Result struct {
	Scenario string  `json:"scenario"`
	Addr     string  `json:"addr"`
	Addr2    string  `json:"addr2,omitempty"`
	Version  int     `json:"mqtt_version"`
	QoS      int     `json:"qos"`
	Size     int     `json:"size"`
	Pubs     int     `json:"pubs,omitempty"`
	Subs     int     `json:"subs,omitempty"`
	Window   int     `json:"window,omitempty"`
	Rate     float64 `json:"rate,omitempty"`
	Seconds  float64 `json:"seconds"` // the measured interval (conns: time to connect)

	// Whole run, warm-up and drain included.
	Sent       uint64 `json:"sent"`
	Expected   uint64 `json:"expected"` // deliveries: sent × subscribers of each message
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Gaps       uint64 `json:"gaps"` // of the lost: skipped in the middle of a stream (the rest were its tail)
	Dups       uint64 `json:"dups"`
	OutOfOrder uint64 `json:"out_of_order"`
	Unacked    uint64 `json:"unacked"` // QoS 1: PUBACKs never received
	Foreign    uint64 `json:"foreign"` // messages the tool did not send
	Stalls     uint64 `json:"stalls"`  // times a publisher waited stallTimeout for deliveries

	// Measured interval.
	MsgsPerSec    float64 `json:"msgs_per_sec"` // delivered
	PubMsgsPerSec float64 `json:"pub_msgs_per_sec"`
	MBPerSec      float64 `json:"payload_mb_per_sec"`
	LatencyP50US  float64 `json:"latency_p50_us"`
	LatencyP99US  float64 `json:"latency_p99_us"`
	LatencyP999US float64 `json:"latency_p999_us"`
	LatencyMaxUS  float64 `json:"latency_max_us"`
	LatencyMeanUS float64 `json:"latency_mean_us"`
	LatencyCount  uint64  `json:"latency_count"`

	// Broker process (-pid).
	BrokerCPUUSPerMsg     float64 `json:"broker_cpu_us_per_msg,omitempty"`
	BrokerCPUPercent      float64 `json:"broker_cpu_percent,omitempty"`
	BrokerRSSBytes        uint64  `json:"broker_rss_bytes,omitempty"`
	BrokerCPUUSPerConnect float64 `json:"broker_cpu_us_per_connect,omitempty"`

	// conns scenario.
	Conns           int     `json:"conns,omitempty"`
	ConnectsPerSec  float64 `json:"connects_per_sec,omitempty"`
	RSSBeforeBytes  uint64  `json:"rss_before_bytes,omitempty"`
	RSSAfterBytes   uint64  `json:"rss_after_bytes,omitempty"`
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes,omitempty"`

	Errors []string `json:"errors,omitempty"`
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func (r *Result) setLatency(h *hist) {
	r.LatencyCount = h.n
	r.LatencyP50US = us(h.quantile(0.50))
	r.LatencyP99US = us(h.quantile(0.99))
	r.LatencyP999US = us(h.quantile(0.999))
	r.LatencyMaxUS = us(time.Duration(h.max))
	r.LatencyMeanUS = us(h.mean())
}

// writeText prints r as a two-column table.
func (r *Result) writeText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, f string, a ...any) { fmt.Fprintf(w, "%s\t"+f+"\n", append([]any{k}, a...)...) }
	if r.Scenario == "conns" {
		row("scenario", "conns (%d idle connections to %s, MQTT v%d)", r.Conns, r.Addr, r.Version)
		row("connects/s", "%.0f (%.2f s)", r.ConnectsPerSec, r.Seconds)
		if r.RSSAfterBytes > 0 {
			row("broker RSS", "%.1f MiB → %.1f MiB", mib(r.RSSBeforeBytes), mib(r.RSSAfterBytes))
			row("broker RSS/conn", "%.0f B", r.RSSPerConnBytes)
			row("broker CPU/connect", "%.1f µs", r.BrokerCPUUSPerConnect)
		}
	} else {
		addr := r.Addr
		if r.Addr2 != "" {
			addr += " → " + r.Addr2
		}
		row("scenario", "%s  qos %d  %d B  %d pubs → %d subs  window %d  MQTT v%d  %s",
			r.Scenario, r.QoS, r.Size, r.Pubs, r.Subs, r.Window, r.Version, addr)
		if r.Rate > 0 {
			row("rate", "%.0f msg/s offered", r.Rate)
		}
		row("delivered", "%.0f msg/s  (%.1f MB/s payload, over %.2f s)", r.MsgsPerSec, r.MBPerSec, r.Seconds)
		row("published", "%.0f msg/s", r.PubMsgsPerSec)
		row("latency", "p50 %.0f µs  p99 %.0f µs  p99.9 %.0f µs  max %.0f µs  (%d samples)",
			r.LatencyP50US, r.LatencyP99US, r.LatencyP999US, r.LatencyMaxUS, r.LatencyCount)
		row("accounting", "sent %d  expected %d  received %d  lost %d (%d mid-stream)  dups %d  out-of-order %d  unacked %d  stalls %d",
			r.Sent, r.Expected, r.Received, r.Lost, r.Gaps, r.Dups, r.OutOfOrder, r.Unacked, r.Stalls)
		if r.Foreign > 0 {
			row("foreign", "%d messages not sent by this run", r.Foreign)
		}
		if r.BrokerCPUPercent > 0 {
			row("broker CPU", "%.2f µs/msg  (%.0f%% of a core)  RSS %.1f MiB", r.BrokerCPUUSPerMsg, r.BrokerCPUPercent, mib(r.BrokerRSSBytes))
		}
	}
	for _, e := range r.Errors {
		row("ERROR", "%s", e)
	}
	return w.Flush()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
