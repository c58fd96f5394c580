// Package blockkit renders Slack messages (Block Kit blocks and mrkdwn
// text) as HTML laid out the way Slack lays them out, for the demo's
// channel page. Everything it outputs is escaped: a message cannot inject
// markup into the page.
package blockkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Renderer renders messages for one page. The zero value works: IDs are
// shown for unknown users and channels, dates in the local time zone. A
// Renderer is safe for concurrent use while its fields are not changed.
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

// The HTML is built by hand rather than with html/template: executing a
// template makes the linker keep every exported method of every type in
// the hoist binary (≈25 MB). Every value that comes from a message goes
// through escape (Slack text), escapeValue (other text and attribute
// values) or escapeURL (href and src), which escape it as html/template's
// contextual escaping did.

// Blocks renders a message's "blocks" JSON array as HTML.
func (r *Renderer) Blocks(raw []byte) (template.HTML, error) {
	var blocks []Block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", fmt.Errorf("read blocks: %w", err)
	}
	var b strings.Builder
	b.WriteString(`<div class="bk-blocks">`)
	for i := range blocks {
		b.WriteString("\n")
		r.writeBlock(&b, &blocks[i])
	}
	b.WriteString("\n</div>")
	return template.HTML(b.String()), nil //nolint:gosec // built from escaped pieces only
}

// Message renders a message as Slack shows it: its blocks when it has any,
// else its text as mrkdwn.
func (r *Renderer) Message(text string, blocks []byte) (template.HTML, error) {
	if len(bytes.TrimSpace(blocks)) > 0 && !bytes.Equal(bytes.TrimSpace(blocks), []byte("null")) {
		return r.Blocks(blocks)
	}
	return `<div class="bk-blocks"><div class="bk-section"><div class="bk-section-body"><div class="bk-text">` +
		r.Mrkdwn(text) + `</div></div></div></div>`, nil
}

// writeBlock renders one block; a type the page does not lay out is
// named in a notice.
func (r *Renderer) writeBlock(b *strings.Builder, block *Block) {
	id := blockIDAttr(block.BlockID)
	switch block.Type {
	case "section":
		b.WriteString(`<div class="bk-section"` + id + `><div class="bk-section-body">`)
		if block.Text != nil {
			b.WriteString(`<div class="bk-text">` + r.text(block.Text) + `</div>`)
		}
		if len(block.Fields) > 0 {
			b.WriteString(`<div class="bk-fields">`)
			for i := range block.Fields {
				b.WriteString(`<div class="bk-field">` + r.text(&block.Fields[i]) + `</div>`)
			}
			b.WriteString(`</div>`)
		}
		b.WriteString(`</div>`)
		if block.Accessory != nil {
			b.WriteString(`<div class="bk-accessory">`)
			r.writeElement(b, block.Accessory)
			b.WriteString(`</div>`)
		}
		b.WriteString(`</div>`)
	case "context":
		b.WriteString(`<div class="bk-context"` + id + `>`)
		for _, e := range block.Elements {
			if e.Type == "image" {
				b.WriteString(`<img class="bk-context-image" src="` + escapeURL(e.ImageURL) + `" alt="` + escapeValue(e.AltText) + `">`)
			} else {
				b.WriteString(`<span class="bk-context-text">` + r.text(e.Text) + `</span>`)
			}
		}
		b.WriteString(`</div>`)
	case "actions":
		b.WriteString(`<div class="bk-actions"` + id + `>`)
		for i := range block.Elements {
			r.writeElement(b, &block.Elements[i])
		}
		b.WriteString(`</div>`)
	case "divider":
		b.WriteString(`<hr class="bk-divider">`)
	case "header":
		b.WriteString(`<div class="bk-header"` + id + `>` + r.text(block.Text) + `</div>`)
	case "image":
		b.WriteString(`<figure class="bk-image"` + id + `>`)
		if block.Title != nil {
			b.WriteString(`<figcaption>` + r.text(block.Title) + `</figcaption>`)
		}
		b.WriteString(`<img src="` + escapeURL(block.ImageURL) + `" alt="` + escapeValue(block.AltText) + `"></figure>`)
	default:
		b.WriteString(`<div class="bk-unsupported">This message has a ` + escapeValue(block.Type) +
			` block, which the demo does not show.</div>`)
	}
}

// writeElement renders an element of an actions block or a section's
// accessory: a button, an image, or the type of any other element.
func (r *Renderer) writeElement(b *strings.Builder, e *Element) {
	switch e.Type {
	case "button":
		r.writeButton(b, e)
	case "image":
		b.WriteString(`<img class="bk-accessory-image" src="` + escapeURL(e.ImageURL) + `" alt="` + escapeValue(e.AltText) + `">`)
	default:
		b.WriteString(`<span class="bk-unsupported">` + escapeValue(e.Type) + `</span>`)
	}
}

// writeButton renders a link button as a link, and any other button as a
// button carrying what a click sends back, followed by its confirmation
// dialog if it has one.
func (r *Renderer) writeButton(b *strings.Builder, e *Element) {
	class := "bk-button" + styleClass(e.Style)
	if e.URL != "" {
		b.WriteString(`<a class="` + class + `" href="` + escapeURL(e.URL) + `" target="_blank" rel="noopener noreferrer">` +
			r.text(e.Text) + `</a>`)
		return
	}
	b.WriteString(`<button type="button" class="` + class + `" data-action-id="` + escapeValue(e.ActionID) +
		`" data-value="` + escapeValue(e.Value) + `"`)
	if e.Confirm != nil {
		b.WriteString(` data-confirm`)
	}
	b.WriteString(`>` + r.text(e.Text) + `</button>`)
	if e.Confirm != nil {
		r.writeConfirm(b, e.Confirm)
	}
}

// writeConfirm renders a confirmation dialog; its buttons read "Cancel"
// and "Yes", the second one primary, unless the dialog says otherwise.
func (r *Renderer) writeConfirm(b *strings.Builder, c *Confirm) {
	deny, confirm, style := "Cancel", "Yes", "primary"
	if c.Deny != nil {
		deny = r.text(c.Deny)
	}
	if c.Confirm != nil {
		confirm = r.text(c.Confirm)
	}
	if c.Style != "" {
		style = c.Style
	}
	b.WriteString(`<dialog class="bk-confirm"><form method="dialog">` + "\n" +
		`<h3 class="bk-confirm-title">` + r.text(c.Title) + `</h3>` + "\n" +
		`<p class="bk-confirm-text">` + r.text(c.Text) + `</p>` + "\n" +
		`<div class="bk-confirm-buttons">` +
		`<button class="bk-button" value="cancel">` + deny + `</button>` +
		`<button class="bk-button bk-` + escapeValue(style) + `" value="confirm">` + confirm + `</button>` +
		`</div>` + "\n" +
		`</form></dialog>`)
}

// text renders a text object: mrkdwn as mrkdwn, plain text as it is
// (Slack's escapes undone). nil renders as nothing.
func (r *Renderer) text(t *Text) string {
	switch {
	case t == nil:
		return ""
	case t.Type == "mrkdwn":
		return string(r.Mrkdwn(t.Text))
	}
	return escape(t.Text)
}

// blockIDAttr is a block's data-block-id attribute, with its leading
// space, or nothing when the block has no ID.
func blockIDAttr(id string) string {
	if id == "" {
		return ""
	}
	return ` data-block-id="` + escapeValue(id) + `"`
}

// styleClass is the class a button style adds ("primary" → " bk-primary"),
// or nothing for the default style.
func styleClass(style string) string {
	if style == "" {
		return ""
	}
	return " bk-" + escapeValue(style)
}
