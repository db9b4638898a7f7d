//go:build !race

package main

// wsReadAllocs is the allocation budget of reading one WebSocket message.
const wsReadAllocs = 0
