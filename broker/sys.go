package broker

import (
	"strconv"
	"time"
)

// sysLoop publishes the $SYS/broker/... topics every SysInterval. They are
// retained in memory only: they describe this process, not durable state.
func (srv *Server) sysLoop(stop <-chan struct{}) {
	t := time.NewTicker(srv.opts.SysInterval)
	defer t.Stop()
	srv.publishSys()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			srv.publishSys()
		}
	}
}

func (srv *Server) publishSys() {
	st := srv.Stats()
	version := srv.opts.Version
	if version == "" {
		version = "dev"
	}
	for _, kv := range [...]struct {
		topic string
		value string
	}{
		{"$SYS/broker/version", "mqttio " + version},
		{"$SYS/broker/uptime", strconv.FormatInt(int64(time.Since(srv.start)/time.Second), 10) + " seconds"},
		{"$SYS/broker/clients/connected", itoa(st.Connections)},
		{"$SYS/broker/clients/total", itoa(st.Sessions)},
		{"$SYS/broker/messages/received", itoa(st.MessagesIn)},
		{"$SYS/broker/messages/sent", itoa(st.MessagesOut)},
		{"$SYS/broker/messages/dropped", itoa(st.Dropped)},
		{"$SYS/broker/bytes/received", itoa(st.BytesIn)},
		{"$SYS/broker/bytes/sent", itoa(st.BytesOut)},
		{"$SYS/broker/subscriptions/count", itoa(st.Subscriptions)},
		{"$SYS/broker/retained messages/count", itoa(st.Retained)},
	} {
		m := &Message{Topic: kv.topic, Payload: []byte(kv.value), Retain: true}
		if old, ok := srv.retained.Get(kv.topic); ok && string(old.Payload) == kv.value {
			continue // unchanged: no traffic for an idle broker
		}
		srv.retained.Set(kv.topic, m)
		srv.Deliver(m)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
