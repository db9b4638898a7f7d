//go:build race

package main

// wsReadAllocs is the allocation budget of reading one WebSocket message:
// the race detector's instrumentation makes one value escape to the heap.
const wsReadAllocs = 1
