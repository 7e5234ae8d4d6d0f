package slackemu

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Block Kit limits Slack enforces on messages; checking them here makes a
// message Slack would reject fail in tests too.
const (
	maxBlocks        = 50
	maxSectionText   = 3000
	maxSectionFields = 10
	maxFieldText     = 2000
)

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type block struct {
	Type     string         `json:"type"`
	Text     *textObject    `json:"text"`
	Fields   []*textObject  `json:"fields"`
	Elements []blockElement `json:"elements"`
}

// blockElement is an interactive element of an actions block.
type blockElement struct {
	Type     string      `json:"type"`
	ActionID string      `json:"action_id"`
	Text     *textObject `json:"text"`
	Value    string      `json:"value"`
}

// checkBlocks validates a blocks argument and returns it compacted, or nil
// for an absent or empty array, or a Slack error code.
func checkBlocks(raw json.RawMessage, present bool) (json.RawMessage, string) {
	if !present {
		return nil, ""
	}
	var blocks []block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, "invalid_blocks_format"
	}
	if len(blocks) == 0 {
		return nil, ""
	}
	if len(blocks) > maxBlocks {
		return nil, "invalid_blocks"
	}
	for _, b := range blocks {
		if !validBlock(b) {
			return nil, "invalid_blocks"
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, "invalid_blocks_format"
	}
	return json.RawMessage(buf.Bytes()), ""
}

func validBlock(b block) bool {
	switch b.Type {
	case "":
		return false
	case "actions":
		// Slack allows up to 25 elements; each button needs an action_id.
		if len(b.Elements) == 0 || len(b.Elements) > 25 {
			return false
		}
		for _, e := range b.Elements {
			if e.Type == "button" && (e.ActionID == "" || e.Text == nil || !validText(e.Text, 75)) {
				return false
			}
		}
	case "section":
		if b.Text == nil && len(b.Fields) == 0 {
			return false
		}
		if b.Text != nil && !validText(b.Text, maxSectionText) {
			return false
		}
		if len(b.Fields) > maxSectionFields {
			return false
		}
		for _, f := range b.Fields {
			if f == nil || !validText(f, maxFieldText) {
				return false
			}
		}
	}
	return true
}

func validText(t *textObject, limit int) bool {
	if t.Type != "mrkdwn" && t.Type != "plain_text" {
		return false
	}
	n := utf8.RuneCountInString(t.Text)
	return n > 0 && n <= limit
}
