package broker

import (
	"log/slog"
	"time"

	"github.com/mqttio/mqttio/broker/packet"
	"github.com/mqttio/mqttio/broker/store"
)

// Options configures a Server. The zero value of every field means "use the
// default" (see DefaultOptions), so callers set only what they change.
type Options struct {
	NodeID  string       // stable name of this node (logs, $SYS, cluster)
	Version string       // broker version reported in $SYS
	Logger  *slog.Logger // nil: slog.Default()
	Store   store.Store  // nil: nothing is persisted (memory only)
	Auth    Authorizer   // nil: allow everything
	Cluster Cluster      // nil: single node

	MaxConnections     int           // 0: unlimited
	MaxPacketSize      int           // largest packet accepted from a client, bytes
	ReceiveMaximum     int           // QoS 1/2 publishes a client may have unacknowledged towards us (v5 Receive Maximum)
	MaxInflight        int           // QoS 1/2 publishes we send a client before waiting for acks
	MaxQueuedMessages  int           // per session, messages waiting while offline or above MaxInflight
	QueueDropNewest    bool          // when the queue is full: drop the new message instead of the oldest
	MaxTopicLevels     int           // topic name / filter levels
	MaxKeepAlive       time.Duration // 0: none; longer client keepalives are cut to this (v5 Server Keep Alive)
	MaxSessionExpiry   time.Duration // cap on the v5 session expiry interval; 0: none
	TopicAliasMaximum  int           // (negative: none) aliases a v5 client may use towards us, and we at most towards it
	ConnectTimeout     time.Duration // close a socket that sends no CONNECT within this time
	RetainAvailable    *bool         // nil: true
	MaxQoS             int           // highest QoS granted, 0..2 (0 in the struct means default 2; set -1 for QoS 0 only)
	SysInterval        time.Duration // $SYS update period; negative disables
	AllowZeroLengthIDs *bool         // nil: true
	DisableNetpoll     bool          // serve every connection with a reader goroutine, even plain TCP

	// Overload protection; zero values turn each off.
	MaxMessageRate    float64       // PUBLISH packets per second per client; beyond it reading slows, then 0x96
	MaxByteRate       float64       // PUBLISH bytes per second per client; beyond it reading slows, then 0x97
	MaxConnectionRate float64       // CONNECTs per second this node accepts; beyond them CONNACK 0x9F
	FlapThreshold     int           // CONNECTs of one client id within FlapWindow before it is refused
	FlapWindow        time.Duration // default 1 minute
	FlapBan           time.Duration // how long a flapping client id is refused; default 5 minutes
	MaxThrottle       time.Duration // how long a client may stay over its rate, slowed, before it is disconnected; default 5s
}

// DefaultOptions are used for every zero field of Options.
var DefaultOptions = Options{
	MaxPacketSize:     1 << 20,
	ReceiveMaximum:    128,
	MaxInflight:       128,
	MaxQueuedMessages: 10000,
	MaxTopicLevels:    128,
	TopicAliasMaximum: 64,
	ConnectTimeout:    10 * time.Second,
	SysInterval:       10 * time.Second,
}

// withDefaults fills every zero field from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxPacketSize <= 0 {
		o.MaxPacketSize = d.MaxPacketSize
	}
	o.MaxPacketSize = min(o.MaxPacketSize, packet.MaxRemainingLength+5)
	if o.ReceiveMaximum <= 0 {
		o.ReceiveMaximum = d.ReceiveMaximum
	}
	o.ReceiveMaximum = min(o.ReceiveMaximum, 65535)
	if o.MaxInflight <= 0 {
		o.MaxInflight = d.MaxInflight
	}
	o.MaxInflight = min(o.MaxInflight, 65535)
	if o.MaxQueuedMessages <= 0 {
		o.MaxQueuedMessages = d.MaxQueuedMessages
	}
	if o.MaxTopicLevels <= 0 {
		o.MaxTopicLevels = d.MaxTopicLevels
	}
	if o.TopicAliasMaximum < 0 {
		o.TopicAliasMaximum = 0
	} else if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = d.TopicAliasMaximum
	}
	o.TopicAliasMaximum = min(o.TopicAliasMaximum, 65535)
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = d.ConnectTimeout
	}
	if o.SysInterval == 0 {
		o.SysInterval = d.SysInterval
	}
	if o.FlapWindow <= 0 {
		o.FlapWindow = time.Minute
	}
	if o.FlapBan <= 0 {
		o.FlapBan = 5 * time.Minute
	}
	if o.MaxThrottle <= 0 {
		o.MaxThrottle = 5 * time.Second
	}
	switch {
	case o.MaxQoS == 0:
		o.MaxQoS = 2
	case o.MaxQoS < 0:
		o.MaxQoS = 0
	case o.MaxQoS > 2:
		o.MaxQoS = 2
	}
	return o
}

func (o *Options) retainAvailable() bool { return o.RetainAvailable == nil || *o.RetainAvailable }

func (o *Options) zeroLengthIDs() bool { return o.AllowZeroLengthIDs == nil || *o.AllowZeroLengthIDs }
