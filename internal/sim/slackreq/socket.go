package slackreq

import (
	"encoding/json"
	"net/url"
)

// JSON is the command as Socket Mode carries it: the same fields as the
// form Slack posts, as a JSON object of strings.
func (c SlashCommand) JSON() json.RawMessage {
	form, _ := url.ParseQuery(string(c.Body()))
	fields := make(map[string]string, len(form))
	for k := range form {
		fields[k] = form.Get(k)
	}
	raw, _ := json.Marshal(fields)
	return raw
}

// JSON is the click as Socket Mode carries it: the JSON payload that
// Body puts in its form field.
func (a BlockAction) JSON() json.RawMessage {
	form, _ := url.ParseQuery(string(a.Body()))
	return json.RawMessage(form.Get("payload"))
}
