// Package mrkdwn makes text typed by people safe to show in Slack's mrkdwn.
package mrkdwn

import "strings"

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "'")

// Escape keeps text from mentioning, linking or breaking out of a code
// span: & < > become entities and backticks become quotes.
func Escape(text string) string { return escaper.Replace(text) }
