package main

import (
	"log/slog"
	"path/filepath"

	"github.com/mqttio/mqttio/broker/store"
	"github.com/mqttio/mqttio/storage"
)

// dbFile is the name of the node's bbolt file inside data_dir.
const dbFile = "mqttio.db"

// DBPath is the bbolt file of the node.
func (c Config) DBPath() string { return filepath.Join(c.DataDir, dbFile) }

// openStore opens the node's bbolt store at data_dir/mqttio.db. The caller
// closes it with the returned function once the broker has shut down. A
// second process on the same data_dir fails here, on the file lock.
func openStore(cfg Config, logger *slog.Logger) (store.Store, func() error, error) {
	db, err := storage.Open(storage.Options{
		Path:   cfg.DBPath(),
		Logger: logger.With("component", "storage"),
	})
	if err != nil {
		return nil, nil, err
	}
	return db, db.Close, nil
}
