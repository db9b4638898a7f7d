// Package topic holds the broker's topic machinery: validation of topic names
// and filters, the single-filter matcher used by ACLs, the subscription trie
// that routes a PUBLISH to its subscribers and shared groups, and the
// retained-message index. It imports only the standard library.
//
// # Semantics
//
// A topic is split on '/' into levels; empty levels are real levels ("/a" has
// two). A filter level "+" matches exactly one level, "#" matches the level it
// stands in, every level below, and the parent level too ("a/#" matches "a")
// [MQTT-4.7.1-2]. A topic whose first level starts with '$' is not matched by
// a filter whose first level is a wildcard [MQTT-4.7.2-1]. Filters handed to
// the trie and the retained index must have passed ValidateFilter; shared
// filters are stored by their real filter plus the group name (see
// ParseShared).
//
// # Locks
//
// Trie has one sync.RWMutex. Subscribe and Unsubscribe take it for writing;
// Match, Count, FilterCount and Walk for reading. A Group has no lock: its
// member list is an immutable slice swapped atomically by writers (who hold
// the trie's write lock), so Group.Pick and Group.Members never block and
// may be called after Trie.Match has returned, and Pick's ok callback can
// take any broker lock without risking an inversion. Retained has its own
// sync.RWMutex and never touches a Trie's. No callback (Walk's fn,
// Retained.Match's fn) may call back into the structure it was passed by:
// it runs under that structure's read lock.
//
// # Cost
//
// With L the number of levels in the topic and W the number of '+' branches
// that exist along the way, Trie.Match does L map lookups on the exact path
// plus one walk per matching '+' branch, and copies each matching node's
// entries with a single append: fan-out to 10 000 subscribers of one filter
// is one memmove. It allocates nothing when the caller's slices have room.
// Subscribe and Unsubscribe are O(levels) plus O(1) for a normal entry (a
// node keeps its entries in a slice, with an index map once it has more than
// a few) and O(members) for a shared group (copy on write). Empty nodes are
// pruned on Unsubscribe, so memory follows the live subscriptions, not the
// churn. Retained.Match walks only the branches a filter can reach: "a/+/c"
// visits the children of "a" and one grandchild each, not every topic.
package topic
