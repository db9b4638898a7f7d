package fsm

import (
	"encoding/binary"
	"errors"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	clusterpb "github.com/mqttio/mqttio/proto"
)

// Command encodes one command: its type byte and its protobuf body.
func Command(typ byte, body proto.Message) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend([]byte{typ}, body)
}

// Entry encodes a log entry: the batch of commands with the proposer's
// time (Unix nanoseconds).
func Entry(at int64, commands [][]byte) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend([]byte{EntryBatch}, &clusterpb.RaftEntry{Time: at, Commands: commands})
}

func expiryKey(at int64, topic string) []byte {
	k := make([]byte, 8, 8+len(topic))
	binary.BigEndian.PutUint64(k, uint64(at))
	return append(k, topic...)
}

func decodeSetRetained(body []byte) (op, error) {
	var c clusterpb.SetRetained
	if err := proto.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	m := c.GetMessage()
	if m.GetTopic() == "" {
		return nil, errors.New("set retained: no topic")
	}
	if len(m.GetPayload()) == 0 {
		return nil, errors.New("set retained: empty payload (a delete is DeleteRetained)")
	}
	return func(a *applyCtx) error {
		rec := proto.Clone(m).(*clusterpb.RetainedMessage)
		rec.SetAt, rec.ExpiresAt = a.time, 0
		if ms := rec.GetExpiryMs(); ms > 0 {
			rec.ExpiresAt = a.time + ms*int64(time.Millisecond)
		}
		b := a.tx.Bucket(bucketRetained)
		if err := unindexExpiry(a.tx, b.Get([]byte(rec.Topic)), rec.Topic); err != nil {
			return err
		}
		v, err := proto.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(rec.Topic), v); err != nil {
			return err
		}
		if rec.ExpiresAt != 0 {
			if err := a.tx.Bucket(bucketExpiry).Put(expiryKey(rec.ExpiresAt, rec.Topic), nil); err != nil {
				return err
			}
		}
		a.notes = append(a.notes, func() { a.n.RetainedChanged(rec.Topic, rec) })
		return nil
	}, nil
}

// unindexExpiry removes the expiry index key of a stored record, if any.
func unindexExpiry(tx *bbolt.Tx, old []byte, topic string) error {
	if old == nil {
		return nil
	}
	var prev clusterpb.RetainedMessage
	if err := proto.Unmarshal(old, &prev); err != nil {
		return err
	}
	if prev.GetExpiresAt() == 0 {
		return nil
	}
	return tx.Bucket(bucketExpiry).Delete(expiryKey(prev.GetExpiresAt(), topic))
}

func decodeDeleteRetained(body []byte) (op, error) {
	var c clusterpb.DeleteRetained
	if err := proto.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	topic := c.GetTopic()
	if topic == "" {
		return nil, errors.New("delete retained: no topic")
	}
	return func(a *applyCtx) error {
		return deleteRetained(a, topic)
	}, nil
}

func deleteRetained(a *applyCtx, topic string) error {
	b := a.tx.Bucket(bucketRetained)
	old := b.Get([]byte(topic))
	if old == nil {
		return nil
	}
	if err := unindexExpiry(a.tx, old, topic); err != nil {
		return err
	}
	if err := b.Delete([]byte(topic)); err != nil {
		return err
	}
	a.notes = append(a.notes, func() { a.n.RetainedChanged(topic, nil) })
	return nil
}

func decodeExpireRetained(body []byte) (op, error) {
	var c clusterpb.ExpireRetained
	if err := proto.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	return func(a *applyCtx) error {
		var due []string
		c := a.tx.Bucket(bucketExpiry).Cursor()
		for k, _ := c.First(); len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) <= a.time; k, _ = c.Next() {
			due = append(due, string(k[8:]))
		}
		for _, topic := range due {
			if err := deleteRetained(a, topic); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

func decodeSetNode(body []byte) (op, error) {
	var c clusterpb.SetNode
	if err := proto.Unmarshal(body, &c); err != nil {
		return nil, err
	}
	if c.GetNodeId() == "" {
		return nil, errors.New("set node: no node id")
	}
	return func(a *applyCtx) error {
		b := a.tx.Bucket(bucketNodes)
		rec := &clusterpb.NodeRecord{NodeId: c.GetNodeId(), Alive: c.GetAlive(), StartId: c.GetStartId(), Since: a.time}
		if old := b.Get([]byte(c.GetNodeId())); old != nil {
			var prev clusterpb.NodeRecord
			if err := proto.Unmarshal(old, &prev); err != nil {
				return err
			}
			if !rec.Alive {
				if !prev.GetAlive() {
					return nil // down already
				}
				rec.StartId = prev.GetStartId() // the last incarnation seen
			} else if prev.GetAlive() && prev.GetStartId() == rec.StartId {
				return nil // no change
			}
		}
		v, err := proto.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(rec.NodeId), v); err != nil {
			return err
		}
		a.notes = append(a.notes, func() { a.n.NodeChanged(rec) })
		return nil
	}, nil
}
