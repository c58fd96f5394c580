package slackapi

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Block Kit limits that Slack enforces and the simulator checks, so that a
// message Slack would refuse is refused in tests too.
const (
	maxBlocks          = 50
	maxBlockID         = 255
	maxSectionText     = 3000
	maxSectionFields   = 10
	maxFieldText       = 2000
	maxHeaderText      = 150
	maxContextElements = 10
	maxActionElements  = 25
	maxButtonText      = 75
	maxActionID        = 255
	maxButtonValue     = 2000
	maxConfirmTitle    = 100
	maxConfirmText     = 300
	maxConfirmButton   = 30
)

type textJSON struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type confirmJSON struct {
	Title   *textJSON `json:"title"`
	Text    *textJSON `json:"text"`
	Confirm *textJSON `json:"confirm"`
	Deny    *textJSON `json:"deny"`
}

type elementJSON struct {
	Type     string       `json:"type"`
	Text     any          `json:"text"` // a text object for buttons, a string for context text
	ActionID string       `json:"action_id"`
	Value    string       `json:"value"`
	Confirm  *confirmJSON `json:"confirm"`
}

type blockJSON struct {
	Type     string        `json:"type"`
	BlockID  string        `json:"block_id"`
	Text     *textJSON     `json:"text"`
	Fields   []textJSON    `json:"fields"`
	Elements []elementJSON `json:"elements"`
}

// checkBlocks validates a "blocks" parameter against the Block Kit limits
// Hoist can run into, and returns Slack-style messages for what is wrong.
func checkBlocks(raw string) []string {
	var blocks []blockJSON
	if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
		return []string{"[ERROR] invalid blocks JSON: " + err.Error()}
	}
	var msgs []string
	bad := func(ptr, format string, args ...any) {
		msgs = append(msgs, fmt.Sprintf("[ERROR] "+format+" [json-pointer:%s]", append(args, ptr)...))
	}
	tooLong := func(ptr, s string, limit int) {
		if n := utf8.RuneCountInString(s); n > limit {
			bad(ptr, "must be less than %d characters", limit+1)
		}
	}
	text := func(ptr string, t *textJSON, limit int) {
		if t == nil || t.Text == "" {
			bad(ptr, "must provide a non-empty text object")
			return
		}
		if t.Type != "plain_text" && t.Type != "mrkdwn" {
			bad(ptr+"/type", "must be plain_text or mrkdwn")
		}
		tooLong(ptr+"/text", t.Text, limit)
	}
	if len(blocks) > maxBlocks {
		bad("/blocks", "no more than %d items allowed", maxBlocks)
	}
	blockIDs := map[string]bool{}
	actionIDs := map[string]bool{}
	for i, b := range blocks {
		ptr := fmt.Sprintf("/blocks/%d", i)
		if b.BlockID != "" {
			tooLong(ptr+"/block_id", b.BlockID, maxBlockID)
			if blockIDs[b.BlockID] {
				bad(ptr+"/block_id", "duplicate block_id %q", b.BlockID)
			}
			blockIDs[b.BlockID] = true
		}
		switch b.Type {
		case "section":
			if b.Text == nil && len(b.Fields) == 0 {
				bad(ptr, "must provide text or fields")
			}
			if b.Text != nil {
				text(ptr+"/text", b.Text, maxSectionText)
			}
			if len(b.Fields) > maxSectionFields {
				bad(ptr+"/fields", "no more than %d items allowed", maxSectionFields)
			}
			for j := range b.Fields {
				text(fmt.Sprintf("%s/fields/%d", ptr, j), &b.Fields[j], maxFieldText)
			}
		case "header":
			text(ptr+"/text", b.Text, maxHeaderText)
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > maxContextElements {
				bad(ptr+"/elements", "must have between 1 and %d items", maxContextElements)
			}
			for j, e := range b.Elements {
				if s, ok := e.Text.(string); ok {
					tooLong(fmt.Sprintf("%s/elements/%d/text", ptr, j), s, maxSectionText)
				}
			}
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > maxActionElements {
				bad(ptr+"/elements", "must have between 1 and %d items", maxActionElements)
			}
			for j, e := range b.Elements {
				eptr := fmt.Sprintf("%s/elements/%d", ptr, j)
				if e.ActionID != "" {
					tooLong(eptr+"/action_id", e.ActionID, maxActionID)
					if actionIDs[e.ActionID] {
						bad(eptr+"/action_id", "duplicate action_id %q", e.ActionID)
					}
					actionIDs[e.ActionID] = true
				}
				if e.Type != "button" {
					continue
				}
				tooLong(eptr+"/value", e.Value, maxButtonValue)
				if t, ok := e.Text.(map[string]any); ok {
					s, _ := t["text"].(string)
					tooLong(eptr+"/text/text", s, maxButtonText)
				}
				if c := e.Confirm; c != nil {
					text(eptr+"/confirm/title", c.Title, maxConfirmTitle)
					text(eptr+"/confirm/text", c.Text, maxConfirmText)
					text(eptr+"/confirm/confirm", c.Confirm, maxConfirmButton)
					if c.Deny != nil {
						text(eptr+"/confirm/deny", c.Deny, maxConfirmButton)
					}
				}
			}
		case "divider", "image", "rich_text", "input", "file", "video", "markdown":
		case "":
			bad(ptr+"/type", "missing required field: type")
		}
	}
	return msgs
}
