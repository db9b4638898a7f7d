package admin

import (
	"runtime"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttio/mqttio/auth"
	"github.com/mqttio/mqttio/broker"
)

// The broker's metrics are read from Server.Stats and the introspection
// views when Prometheus scrapes, so the publish path pays nothing for
// them: the core's atomic counters are the only counting. Other layers add
// their own collectors to Server.Registry.

const ns = "mqttio"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
}

// brokerCollector exports a broker.Server's counters.
type brokerCollector struct {
	srv             *broker.Server
	nodeID, version string

	buildInfo, startTime                         *prometheus.Desc
	connections, clients                         *prometheus.Desc
	sessions, subscriptions, retained            *prometheus.Desc
	inflight, queued                             *prometheus.Desc
	msgsIn, msgsOut, bytesIn, bytesOut           *prometheus.Desc
	packetsIn, packetsOut, delivered, redispatch *prometheus.Desc
	dropped, refused, authFailures, denied       *prometheus.Desc
	wills, expired, keepalive                    *prometheus.Desc
}

// NewBrokerCollector returns the collector of srv's metrics (New registers
// one; use this for a registry of your own).
func NewBrokerCollector(srv *broker.Server, nodeID, version string) prometheus.Collector {
	return &brokerCollector{
		srv: srv, nodeID: nodeID, version: version,
		buildInfo:     desc("build_info", "Always 1; the labels name the build and the node.", "version", "goversion", "node_id"),
		startTime:     desc("start_time_seconds", "When the broker started, in Unix seconds."),
		connections:   desc("connections", "Open network connections, including those that have not completed CONNECT."),
		clients:       desc("clients_connected", "Open connections by transport and MQTT protocol version (\"connecting\": CONNECT not completed).", "transport", "protocol"),
		sessions:      desc("sessions", "Sessions, connected or offline."),
		subscriptions: desc("subscriptions", "Subscriptions of all sessions."),
		retained:      desc("retained_messages", "Retained messages."),
		inflight:      desc("inflight_messages", "QoS 1/2 messages sent to clients and not yet acknowledged."),
		queued:        desc("queued_messages", "Messages queued in sessions: client offline or inflight window full."),
		msgsIn:        desc("messages_received_total", "PUBLISH packets received from clients."),
		msgsOut:       desc("messages_sent_total", "PUBLISH packets sent to clients."),
		bytesIn:       desc("bytes_received_total", "Bytes of PUBLISH packets received from clients (header and payload after the fixed header)."),
		bytesOut:      desc("bytes_sent_total", "Bytes sent to clients (every packet but acknowledgements)."),
		packetsIn:     desc("packets_received_total", "MQTT packets received after CONNECT."),
		packetsOut:    desc("packets_sent_total", "MQTT packets sent."),
		delivered:     desc("deliveries_total", "Messages routed to a session (one per matching subscriber)."),
		redispatch:    desc("shared_redispatched_total", "Shared-subscription messages moved to another member of the group."),
		dropped:       desc("messages_dropped_total", "Messages dropped: session queue full, slow subscriber, larger than the client's maximum packet size."),
		refused:       desc("connections_refused_total", "Connections refused: connection limit, or CONNECT refused."),
		authFailures:  desc("auth_failures_total", "CONNECTs refused by authentication."),
		denied:        desc("authorization_denials_total", "PUBLISH and SUBSCRIBE requests refused by the ACL."),
		wills:         desc("wills_published_total", "Will messages published."),
		expired:       desc("sessions_expired_total", "Sessions ended by their expiry interval."),
		keepalive:     desc("keepalive_timeouts_total", "Connections closed because the client stopped sending within its keepalive."),
	}
}

func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.buildInfo, c.startTime, c.connections, c.clients, c.sessions, c.subscriptions, c.retained,
		c.inflight, c.queued, c.msgsIn, c.msgsOut, c.bytesIn, c.bytesOut, c.packetsIn, c.packetsOut,
		c.delivered, c.redispatch, c.dropped, c.refused, c.authFailures, c.denied, c.wills, c.expired, c.keepalive,
	} {
		ch <- d
	}
}

// protocolName labels a protocol level.
func protocolName(v int) string {
	switch v {
	case 0:
		return "connecting"
	case 3:
		return "3.1"
	case 4:
		return "3.1.1"
	case 5:
		return "5"
	}
	return strconv.Itoa(v)
}

func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	tr := c.srv.Traffic()
	inflight, queued := c.srv.Backlog()
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.version, runtime.Version(), c.nodeID)
	ch <- prometheus.MustNewConstMetric(c.startTime, prometheus.GaugeValue, float64(c.srv.StartedAt().UnixNano())/1e9)
	gauge(c.connections, st.Connections)
	for k, n := range c.srv.ConnectionCounts() {
		gauge(c.clients, int64(n), k.Transport, protocolName(k.ProtocolVersion))
	}
	gauge(c.sessions, st.Sessions)
	gauge(c.subscriptions, st.Subscriptions)
	gauge(c.retained, st.Retained)
	gauge(c.inflight, inflight)
	gauge(c.queued, queued)
	counter(c.msgsIn, st.MessagesIn)
	counter(c.msgsOut, st.MessagesOut)
	counter(c.bytesIn, st.BytesIn)
	counter(c.bytesOut, st.BytesOut)
	counter(c.packetsIn, tr.PacketsIn)
	counter(c.packetsOut, tr.PacketsOut)
	counter(c.delivered, tr.Delivered)
	counter(c.redispatch, tr.Redispatched)
	counter(c.dropped, st.Dropped)
	counter(c.refused, st.Refused)
	counter(c.authFailures, st.AuthFailures)
	counter(c.denied, st.Denied)
	counter(c.wills, st.WillsSent)
	counter(c.expired, st.SessionsExpired)
	counter(c.keepalive, st.KeepaliveTimeouts)
}

// authCollector exports an auth.Authorizer's counters.
type authCollector struct {
	a                                 *auth.Authorizer
	users, rules, hashes, hits        *prometheus.Desc
	reloads, reloadFailures, lastLoad *prometheus.Desc
}

// NewAuthCollector returns the collector of a's metrics.
func NewAuthCollector(a *auth.Authorizer) prometheus.Collector {
	return &authCollector{
		a:              a,
		users:          desc("auth_users", "Users in the password file."),
		rules:          desc("auth_acl_rules", "Rules in the ACL file."),
		hashes:         desc("auth_password_verifications_total", "Password hashes computed (bcrypt is slow on purpose; see auth_cache_hits_total)."),
		hits:           desc("auth_cache_hits_total", "Password checks answered from the verification cache."),
		reloads:        desc("auth_reloads_total", "Successful reloads of the password and ACL files."),
		reloadFailures: desc("auth_reload_failures_total", "Reloads refused because a file did not load; the previous files stay in force."),
		lastLoad:       desc("auth_last_reload_timestamp_seconds", "When the files in force were loaded, in Unix seconds."),
	}
}

func (c *authCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.users, c.rules, c.hashes, c.hits, c.reloads, c.reloadFailures, c.lastLoad} {
		ch <- d
	}
}

func (c *authCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Stats()
	ch <- prometheus.MustNewConstMetric(c.users, prometheus.GaugeValue, float64(st.Users))
	ch <- prometheus.MustNewConstMetric(c.rules, prometheus.GaugeValue, float64(st.ACLRules))
	ch <- prometheus.MustNewConstMetric(c.hashes, prometheus.CounterValue, float64(st.Verifications))
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(st.CacheHits))
	ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads))
	ch <- prometheus.MustNewConstMetric(c.reloadFailures, prometheus.CounterValue, float64(st.ReloadFailures))
	ch <- prometheus.MustNewConstMetric(c.lastLoad, prometheus.GaugeValue, float64(st.LastReload.UnixNano())/1e9)
}
