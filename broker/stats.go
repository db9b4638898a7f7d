package broker

import "sync/atomic"

// stats are the server's counters, read by $SYS and the metrics endpoint.
type stats struct {
	connections       atomic.Int64 // open network connections
	refused           atomic.Int64 // connections refused (limit, CONNECT refused)
	packetsIn         atomic.Int64
	packetsOut        atomic.Int64
	msgsIn            atomic.Int64 // PUBLISH received
	msgsOut           atomic.Int64 // PUBLISH sent
	bytesIn           atomic.Int64
	bytesOut          atomic.Int64
	delivered         atomic.Int64 // deliveries routed to sessions
	dropped           atomic.Int64 // messages dropped: full queue or slow subscriber, too large
	authFailures      atomic.Int64
	denied            atomic.Int64 // publishes and subscriptions refused by the authorizer
	expired           atomic.Int64 // sessions expired
	willsSent         atomic.Int64
	redispatched      atomic.Int64 // shared-subscription messages moved to another member
	subscriptions     atomic.Int64
	keepaliveTimeouts atomic.Int64
	throttled         atomic.Int64 // clients disconnected for exceeding their publish rate
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	Connections, Sessions, Subscriptions, Retained int64
	MessagesIn, MessagesOut, BytesIn, BytesOut     int64
	Dropped, Refused, AuthFailures, Denied         int64
	WillsSent, SessionsExpired, KeepaliveTimeouts  int64
}

// Stats returns a snapshot of the counters.
func (srv *Server) Stats() Stats {
	st := &srv.stats
	srv.mu.Lock()
	sessions := int64(len(srv.sessions))
	srv.mu.Unlock()
	return Stats{
		Connections: st.connections.Load(), Sessions: sessions,
		Subscriptions: st.subscriptions.Load(), Retained: int64(srv.retained.Len()),
		MessagesIn: st.msgsIn.Load(), MessagesOut: st.msgsOut.Load(),
		BytesIn: st.bytesIn.Load(), BytesOut: st.bytesOut.Load(),
		Dropped: st.dropped.Load(), Refused: st.refused.Load(),
		AuthFailures: st.authFailures.Load(), Denied: st.denied.Load(),
		WillsSent: st.willsSent.Load(), SessionsExpired: st.expired.Load(),
		KeepaliveTimeouts: st.keepaliveTimeouts.Load(),
	}
}
