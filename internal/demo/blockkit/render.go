// Package blockkit renders Slack messages (Block Kit blocks and mrkdwn
// text) as HTML laid out the way Slack lays them out, for the demo's
// channel page. Everything it outputs is escaped: a message cannot inject
// markup into the page.
package blockkit

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"sync"
	"time"
)

//go:embed blocks.html.tmpl
var blocksTemplate string

// Renderer renders messages for one page. The zero value works: IDs are
// shown for unknown users and channels, dates in the local time zone. A
// Renderer is safe for concurrent use; do not copy it once used.
type Renderer struct {
	// Users maps user IDs to the names mentions show ("U123" → "ana").
	Users map[string]string
	// Channels maps channel IDs to their names, without '#'.
	Channels map[string]string
	// Location is the time zone dates are shown in; time.Local when nil.
	Location *time.Location
	// Now is the clock relative dates ("today", "3 minutes ago") are
	// computed from; time.Now when nil.
	Now func() time.Time

	parse    sync.Once
	tmpl     *template.Template
	parseErr error
}

// Text is a Block Kit text object.
type Text struct {
	Type     string `json:"type"` // "plain_text" or "mrkdwn"
	Text     string `json:"text"`
	Emoji    bool   `json:"emoji,omitempty"`
	Verbatim bool   `json:"verbatim,omitempty"`
}

// Confirm is a confirmation dialog a button opens before it acts.
type Confirm struct {
	Title   *Text  `json:"title"`
	Text    *Text  `json:"text"`
	Confirm *Text  `json:"confirm"`
	Deny    *Text  `json:"deny"`
	Style   string `json:"style"`
}

// Element is an interactive or context element: a button, an image, a text
// object in a context block, or an element the page shows by its type only.
type Element struct {
	Type     string   `json:"type"`
	Text     *Text    `json:"-"` // a button's label, or a context text
	ActionID string   `json:"action_id"`
	Value    string   `json:"value"`
	Style    string   `json:"style"`
	URL      string   `json:"url"`
	Confirm  *Confirm `json:"confirm"`
	ImageURL string   `json:"image_url"`
	AltText  string   `json:"alt_text"`
}

// UnmarshalJSON reads "text", which is a text object on a button and a
// plain string on a text element of a context block.
func (e *Element) UnmarshalJSON(data []byte) error {
	type plain Element
	var raw struct {
		plain
		Text json.RawMessage `json:"text"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*e = Element(raw.plain)
	if len(raw.Text) == 0 {
		return nil
	}
	var s string
	if json.Unmarshal(raw.Text, &s) == nil {
		e.Text = &Text{Type: e.Type, Text: s}
		return nil
	}
	return json.Unmarshal(raw.Text, &e.Text)
}

// Block is one Block Kit block.
type Block struct {
	Type      string    `json:"type"`
	BlockID   string    `json:"block_id"`
	Text      *Text     `json:"text"`
	Fields    []Text    `json:"fields"`
	Accessory *Element  `json:"accessory"`
	Elements  []Element `json:"elements"`
	ImageURL  string    `json:"image_url"`
	AltText   string    `json:"alt_text"`
	Title     *Text     `json:"title"`
}

// Blocks renders a message's "blocks" JSON array as HTML.
func (r *Renderer) Blocks(raw []byte) (template.HTML, error) {
	var blocks []Block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("read blocks: %w", err)
	}
	return r.render("blocks", blocks)
}

// Message renders a message as Slack shows it: its blocks when it has any,
// else its text as mrkdwn.
func (r *Renderer) Message(text string, blocks []byte) (template.HTML, error) {
	if len(bytes.TrimSpace(blocks)) > 0 && !bytes.Equal(bytes.TrimSpace(blocks), []byte("null")) {
		return r.Blocks(blocks)
	}
	return r.render("text", text)
}

func (r *Renderer) render(name string, data any) (template.HTML, error) {
	r.parse.Do(func() {
		r.tmpl, r.parseErr = template.New("blocks").Funcs(template.FuncMap{
			"text":   r.text,
			"mrkdwn": r.Mrkdwn,
		}).Parse(blocksTemplate)
	})
	if r.parseErr != nil {
		return "", fmt.Errorf("parse blocks template: %w", r.parseErr)
	}
	var b bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return template.HTML(b.String()), nil //nolint:gosec // html/template escaped it
}

// text renders a text object: mrkdwn as mrkdwn, plain text as it is
// (Slack's escapes undone). nil renders as nothing.
func (r *Renderer) text(t *Text) template.HTML {
	switch {
	case t == nil:
		return ""
	case t.Type == "mrkdwn":
		return r.Mrkdwn(t.Text)
	}
	return template.HTML(escape(t.Text)) //nolint:gosec // escaped
}
