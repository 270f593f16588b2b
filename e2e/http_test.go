package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/haetae/haetae"
)

var hc = &http.Client{Timeout: 10 * time.Second}

// trySend posts one message and reports the status; a transport error (server gone) is err.
func trySend(base, token, room, clientID string) (*haetae.Message, int, error) {
	b, _ := json.Marshal(map[string]string{"client_id": clientID, "text": "message " + clientID})
	req, err := http.NewRequest("POST", base+"/v1/rooms/"+room+"/messages", bytes.NewReader(b))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	var m haetae.Message
	if resp.StatusCode == 200 || resp.StatusCode == 201 {
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, resp.StatusCode, err
		}
	}
	return &m, resp.StatusCode, nil
}
