//go:build race

package broker

// maxRouteAllocs is the allocation budget of routing a QoS 0 message. The
// race detector makes sync.Pool drop a quarter of what is put back, so the
// pooled decode targets and buffers are sometimes allocated anew.
const maxRouteAllocs = 1
