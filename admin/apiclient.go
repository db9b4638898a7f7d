package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// APIClient calls a node's admin API; the mqttio subcommands use it.
type APIClient struct {
	BaseURL string // "http://127.0.0.1:8081"
	Token   string
	HTTP    *http.Client // nil: a client with a 30 s timeout
}

// APIError is an error answer of the API.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("admin API: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

func (c *APIClient) do(ctx context.Context, method, path string, out any) error {
	base := strings.TrimSuffix(c.BaseURL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 256<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		return &APIError{Status: res.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("admin API: %s %s: bad JSON: %w", method, path, err)
	}
	return nil
}

// Clients lists the connected clients that match search (all for "").
func (c *APIClient) Clients(ctx context.Context, search string, limit int) (List[Client], error) {
	q := url.Values{}
	if search != "" {
		q.Set("search", search)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out List[Client]
	err := c.do(ctx, http.MethodGet, "/api/v1/clients?"+q.Encode(), &out)
	return out, err
}

// ErrNotConnected is returned by Kick for a client that is not connected.
var ErrNotConnected = errors.New("client not connected")

// Kick disconnects client id (MQTT 5 clients get DISCONNECT 0x98).
func (c *APIClient) Kick(ctx context.Context, id string) error {
	err := c.do(ctx, http.MethodDelete, "/api/v1/clients/"+url.PathEscape(id), nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound && strings.Contains(ae.Message, "not connected") {
		return fmt.Errorf("%w: %s", ErrNotConnected, id)
	}
	return err
}

// Node returns the node's description and counters.
func (c *APIClient) Node(ctx context.Context) (Node, error) {
	var n Node
	err := c.do(ctx, http.MethodGet, "/api/v1/node", &n)
	return n, err
}
