//go:build !race

package broker

// maxRouteAllocs is the allocation budget of routing a QoS 0 message.
const maxRouteAllocs = 0
