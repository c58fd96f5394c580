package slackapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxBody bounds a request body, uploads included.
const maxBody = 8 << 20

// reply is the JSON object a method answers with.
type reply map[string]any

func okReply(fields reply) reply {
	r := reply{"ok": true}
	for k, v := range fields {
		r[k] = v
	}
	return r
}

func errReply(slackError string) reply { return reply{"ok": false, "error": slackError} }

// errorOf returns the Slack error of r, empty when r is ok.
func errorOf(r reply) string {
	if e, ok := r["error"].(string); ok {
		return e
	}
	return ""
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errReply("request_too_large"))
		return
	}
	params, token, parseErr := parseParams(r, body)
	call := Call{Method: method, Params: params, Body: redact(body, token)}
	if b, ok := params["blocks"]; ok && json.Valid([]byte(b)) {
		call.Blocks = json.RawMessage(b)
	}

	s.mu.Lock()
	status, retryAfter, resp := s.dispatchLocked(method, token, params, parseErr)
	call.Status = status
	call.Error = errorOf(resp)
	if ts, ok := resp["ts"].(string); ok && method == "chat.postMessage" {
		call.Ref = ts
	}
	s.recordLocked(call)
	s.mu.Unlock()

	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, resp)
}

// dispatchLocked answers one Web API call. s.mu must be held.
func (s *Server) dispatchLocked(method, token string, p map[string]string, parseErr string) (status, retryAfter int, resp reply) {
	want := s.token
	if method == "apps.connections.open" {
		want = s.appToken
	}
	switch {
	case token == "":
		return http.StatusOK, 0, errReply("not_authed")
	case method == "apps.connections.open" && token == s.token:
		return http.StatusOK, 0, errReply("not_allowed_token_type")
	case token != want:
		return http.StatusOK, 0, errReply("invalid_auth")
	case parseErr != "":
		return http.StatusOK, 0, errReply(parseErr)
	}
	if inj, ok := s.takeInjectionLocked(method); ok {
		if inj.rateLimited {
			return http.StatusTooManyRequests, inj.retryAfter, errReply(inj.slackError)
		}
		return http.StatusOK, 0, errReply(inj.slackError)
	}
	if wait, limited := s.rateLimitedLocked(method); limited {
		return http.StatusTooManyRequests, wait, errReply("ratelimited")
	}
	switch method {
	case "apps.connections.open":
		resp = s.appsConnectionsOpenLocked()
	case "auth.test":
		resp = okReply(reply{"url": TeamURL, "team": "Example", "user": "hoist", "team_id": TeamID, "user_id": BotUserID, "bot_id": BotID})
	case "chat.postMessage":
		resp = s.chatPostMessageLocked(p)
	case "chat.update":
		resp = s.chatUpdateLocked(p)
	case "chat.postEphemeral":
		resp = s.chatPostEphemeralLocked(p)
	case "chat.getPermalink":
		resp = s.chatGetPermalinkLocked(p)
	case "conversations.join":
		resp = s.conversationsJoinLocked(p)
	case "conversations.info":
		resp = s.conversationsInfoLocked(p)
	case "usergroups.users.list":
		resp = s.usergroupsUsersListLocked(p)
	case "files.getUploadURLExternal":
		resp = s.filesGetUploadURLExternalLocked(p)
	case "files.completeUploadExternal":
		resp = s.filesCompleteUploadExternalLocked(p)
	default:
		resp = errReply("unknown_method")
	}
	return http.StatusOK, 0, resp
}

// rateLimitedLocked counts a call against its method's rate limit and says
// whether it is over, and how many seconds to wait if so.
func (s *Server) rateLimitedLocked(method string) (retryAfter int, limited bool) {
	l, ok := s.limits[method]
	if !ok {
		return 0, false
	}
	now := s.now()
	kept := l.accepted[:0]
	for _, at := range l.accepted {
		if now.Sub(at) < time.Minute {
			kept = append(kept, at)
		}
	}
	l.accepted = kept
	if len(l.accepted) >= l.perMinute {
		wait := time.Minute - now.Sub(l.accepted[0])
		return max(1, int((wait+time.Second-1)/time.Second)), true
	}
	l.accepted = append(l.accepted, now)
	return 0, false
}

// redact hides token in a recorded body, so that recorded calls can be
// shown (in a demo page, in test failures) without showing a token.
func redact(body []byte, token string) []byte {
	if token == "" {
		return body
	}
	body = bytes.ReplaceAll(body, []byte(token), []byte("REDACTED"))
	return bytes.ReplaceAll(body, []byte(url.QueryEscape(token)), []byte("REDACTED"))
}

// parseParams reads the parameters of a call from its query, and from a form
// or JSON body, and the token from the Authorization header or the "token"
// parameter (slack-go sends it both ways, as Slack accepts). It returns a
// Slack error when the body cannot be read.
func parseParams(r *http.Request, body []byte) (params map[string]string, token, slackError string) {
	params = make(map[string]string)
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(body) == 0:
	case ct == "application/json":
		if err := flattenJSON(body, params); err != nil {
			slackError = "invalid_json"
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			slackError = "invalid_form_data"
			break
		}
		for k, v := range vals {
			params[k] = v[0]
		}
	}
	token = bearerToken(r)
	if token == "" {
		token = params["token"]
	}
	delete(params, "token")
	return params, token, slackError
}

// flattenJSON copies the top-level fields of a JSON object into params:
// strings as they are, other values as JSON text.
func flattenJSON(body []byte, params map[string]string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	for k, raw := range m {
		var str string
		if err := json.Unmarshal(raw, &str); err == nil {
			params[k] = str
		} else {
			params[k] = string(raw)
		}
	}
	return nil
}

// resolveLocked finds a channel by ID or by name, with or without '#'.
func (s *Server) resolveLocked(idOrName string) *channel {
	if ch, ok := s.channels[idOrName]; ok {
		return ch
	}
	name := strings.TrimPrefix(idOrName, "#")
	for _, ch := range s.channels {
		if ch.name == name && name != "" {
			return ch
		}
	}
	return nil
}

// visible reports whether the bot can see ch at all: Slack answers
// channel_not_found for a private channel the bot is not in.
func visible(ch *channel) bool { return ch != nil && (!ch.private || ch.member) }

// postError says why the bot cannot post in ch, or "" when it can.
func postError(ch *channel) string {
	switch {
	case !visible(ch):
		return "channel_not_found"
	case ch.archived:
		return "is_archived"
	case !ch.member:
		return "not_in_channel"
	}
	return ""
}

func (s *Server) nextTSLocked() string {
	s.tsSeq++
	micros := s.tsSeq * 100
	return fmt.Sprintf("%d.%06d", 1700000000+micros/1_000_000, micros%1_000_000)
}

// messageJSON is a message as Slack's chat methods return it.
type messageJSON struct {
	Type     string          `json:"type"`
	User     string          `json:"user"`
	BotID    string          `json:"bot_id"`
	Text     string          `json:"text"`
	TS       string          `json:"ts"`
	ThreadTS string          `json:"thread_ts,omitempty"`
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

func toJSON(m *Message) messageJSON {
	return messageJSON{Type: "message", User: m.User, BotID: BotID, Text: m.Text, TS: m.TS, ThreadTS: m.ThreadTS, Blocks: m.Blocks, Metadata: m.Metadata}
}

// checkContent validates the text, blocks and metadata of a message and
// returns the Slack error and its detail messages, if any.
func checkContent(p map[string]string) (string, []string) {
	if b, ok := p["blocks"]; ok {
		if msgs := checkBlocks(b); len(msgs) > 0 {
			return "invalid_blocks", msgs
		}
	}
	if m, ok := p["metadata"]; ok && m != "" {
		var md struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if err := json.Unmarshal([]byte(m), &md); err != nil || md.EventType == "" || md.EventPayload == nil {
			return "invalid_metadata_format", nil
		}
	}
	if utf8.RuneCountInString(p["text"]) > 40000 {
		return "msg_too_long", nil
	}
	return "", nil
}

func invalid(slackError string, msgs []string) reply {
	r := errReply(slackError)
	if len(msgs) > 0 {
		r["response_metadata"] = reply{"messages": msgs}
	}
	return r
}

func hasBlocks(p map[string]string) bool {
	b := strings.TrimSpace(p["blocks"])
	return b != "" && b != "[]" && b != "null"
}

func rawOrNil(s string) json.RawMessage {
	if s == "" || !json.Valid([]byte(s)) {
		return nil
	}
	return json.RawMessage(s)
}

func (s *Server) chatPostMessageLocked(p map[string]string) reply {
	ch := s.resolveLocked(p["channel"])
	if e := postError(ch); e != "" {
		return errReply(e)
	}
	if p["text"] == "" && !hasBlocks(p) && p["attachments"] == "" {
		return errReply("no_text")
	}
	if e, msgs := checkContent(p); e != "" {
		return invalid(e, msgs)
	}
	m := &Message{
		Channel:  ch.id,
		TS:       s.nextTSLocked(),
		ThreadTS: p["thread_ts"],
		User:     BotUserID,
		Text:     p["text"],
		Blocks:   rawOrNil(p["blocks"]),
		Metadata: rawOrNil(p["metadata"]),
	}
	k := msgKey{m.Channel, m.TS}
	s.messages[k] = m
	s.order = append(s.order, k)
	return okReply(reply{"channel": m.Channel, "ts": m.TS, "message": toJSON(m)})
}

func (s *Server) chatUpdateLocked(p map[string]string) reply {
	ch := s.resolveLocked(p["channel"])
	if !visible(ch) {
		return errReply("channel_not_found")
	}
	if ch.archived {
		return errReply("is_archived")
	}
	m, ok := s.messages[msgKey{ch.id, p["ts"]}]
	if !ok {
		return errReply("message_not_found")
	}
	if p["text"] == "" && !hasBlocks(p) && p["attachments"] == "" {
		return errReply("no_text")
	}
	if e, msgs := checkContent(p); e != "" {
		return invalid(e, msgs)
	}
	if t, ok := p["text"]; ok {
		m.Text = t
	}
	// As in Slack, blocks left out keep the message's blocks; "[]" clears them.
	if b, ok := p["blocks"]; ok {
		m.Blocks = rawOrNil(b)
		if strings.TrimSpace(b) == "[]" {
			m.Blocks = nil
		}
	}
	if md, ok := p["metadata"]; ok {
		m.Metadata = rawOrNil(md)
	}
	m.Edits++
	return okReply(reply{"channel": m.Channel, "ts": m.TS, "text": m.Text, "message": toJSON(m)})
}

func (s *Server) chatPostEphemeralLocked(p map[string]string) reply {
	ch := s.resolveLocked(p["channel"])
	if e := postError(ch); e != "" {
		return errReply(e)
	}
	if p["user"] == "" {
		return errReply("user_not_found")
	}
	if p["text"] == "" && !hasBlocks(p) && p["attachments"] == "" {
		return errReply("no_text")
	}
	if e, msgs := checkContent(p); e != "" {
		return invalid(e, msgs)
	}
	return okReply(reply{"message_ts": s.nextTSLocked()})
}

func (s *Server) chatGetPermalinkLocked(p map[string]string) reply {
	ch := s.resolveLocked(p["channel"])
	if !visible(ch) {
		return errReply("channel_not_found")
	}
	m, ok := s.messages[msgKey{ch.id, p["message_ts"]}]
	if !ok {
		return errReply("message_not_found")
	}
	link := TeamURL + "archives/" + ch.id + "/p" + strings.Replace(m.TS, ".", "", 1)
	if m.ThreadTS != "" {
		link += "?thread_ts=" + m.ThreadTS + "&cid=" + ch.id
	}
	return okReply(reply{"channel": ch.id, "permalink": link})
}

// channelJSON is a channel as conversations.* methods return it.
type channelJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	NameNormalized string `json:"name_normalized"`
	IsChannel      bool   `json:"is_channel"`
	IsGroup        bool   `json:"is_group"`
	IsPrivate      bool   `json:"is_private"`
	IsMember       bool   `json:"is_member"`
	IsArchived     bool   `json:"is_archived"`
	Created        int64  `json:"created"`
}

func toChannelJSON(ch *channel) channelJSON {
	return channelJSON{
		ID: ch.id, Name: ch.name, NameNormalized: ch.name, IsChannel: true,
		IsPrivate: ch.private, IsMember: ch.member, IsArchived: ch.archived, Created: 1700000000,
	}
}

func (s *Server) conversationsJoinLocked(p map[string]string) reply {
	ch := s.resolveLocked(p["channel"])
	switch {
	case ch == nil:
		return errReply("channel_not_found")
	case ch.private:
		return errReply("method_not_supported_for_channel_type")
	case ch.archived:
		return errReply("is_archived")
	}
	r := reply{}
	if ch.member {
		r["warning"] = "already_in_channel"
		r["response_metadata"] = reply{"warnings": []string{"already_in_channel"}}
	}
	ch.member = true
	r["channel"] = toChannelJSON(ch)
	return okReply(r)
}

func (s *Server) conversationsInfoLocked(p map[string]string) reply {
	ch := s.resolveLocked(p["channel"])
	if !visible(ch) {
		return errReply("channel_not_found")
	}
	return okReply(reply{"channel": toChannelJSON(ch)})
}

func (s *Server) usergroupsUsersListLocked(p map[string]string) reply {
	if s.noGroups {
		return errReply("paid_teams_only")
	}
	members, ok := s.groups[p["usergroup"]]
	if !ok {
		return errReply("no_such_subteam")
	}
	return okReply(reply{"users": append([]string{}, members...)})
}

func (s *Server) filesGetUploadURLExternalLocked(p map[string]string) reply {
	length, err := strconv.Atoi(p["length"])
	if p["filename"] == "" || err != nil || length <= 0 {
		return errReply("invalid_arguments")
	}
	s.fileSeq++
	id := fileID(s.fileSeq)
	s.files[id] = &File{ID: id, Name: p["filename"], Length: length}
	return okReply(reply{"upload_url": s.srv.URL + "/upload/" + id, "file_id": id})
}

func (s *Server) filesCompleteUploadExternalLocked(p map[string]string) reply {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(p["files"]), &files); err != nil || len(files) == 0 {
		return errReply("invalid_arguments")
	}
	target := p["channel_id"]
	if target == "" {
		target, _, _ = strings.Cut(p["channels"], ",")
	}
	var chID string
	if target != "" {
		ch := s.resolveLocked(target)
		if e := postError(ch); e != "" {
			return errReply(e)
		}
		chID = ch.id
	}
	for _, f := range files {
		if got, ok := s.files[f.ID]; !ok || !got.Uploaded {
			return errReply("file_not_found")
		}
	}
	out := make([]reply, 0, len(files))
	for _, f := range files {
		got := s.files[f.ID]
		got.Complete = true
		got.Title = f.Title
		if got.Title == "" {
			got.Title = got.Name
		}
		got.Channel = chID
		got.ThreadTS = p["thread_ts"]
		out = append(out, reply{"id": got.ID, "title": got.Title})
	}
	return okReply(reply{"files": out})
}

// serveUpload receives a file's content at an upload URL, as a multipart
// form with a "file" part (as slack-go sends it) or as the raw body.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("file")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	content, name, err := uploadedContent(r.Header.Get("Content-Type"), body)
	call := Call{Method: MethodUpload, Params: map[string]string{"file_id": id, "filename": name}, Body: content, Ref: id}

	s.mu.Lock()
	status, text := http.StatusOK, ""
	f, known := s.files[id]
	inj, injected := s.takeInjectionLocked(MethodUpload)
	switch {
	case !known:
		status, text = http.StatusNotFound, "no such upload"
	case err != nil:
		status, text = http.StatusBadRequest, "bad upload: "+err.Error()
	case injected && inj.rateLimited:
		status, text = http.StatusTooManyRequests, inj.slackError
		w.Header().Set("Retry-After", strconv.Itoa(inj.retryAfter))
	case injected:
		status, text = http.StatusInternalServerError, inj.slackError
	default:
		f.Content = content
		f.Uploaded = true
		text = fmt.Sprintf("OK - %d", len(content))
	}
	call.Status = status
	if status != http.StatusOK {
		call.Error = text
	}
	s.recordLocked(call)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text) //nolint:gosec // plain text to a test client, not a page
}

// uploadedContent returns the file in an upload body and its name.
func uploadedContent(contentType string, body []byte) (content []byte, name string, err error) {
	mt, params, _ := mime.ParseMediaType(contentType)
	if mt != "multipart/form-data" {
		return body, "", nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, "", errors.New(`no "file" part`)
		}
		if err != nil {
			return nil, "", err
		}
		if part.FormName() == "file" {
			content, err := io.ReadAll(part)
			return content, part.FileName(), err
		}
	}
}

// serveResponseURL accepts a POST to a response URL, as Slack does: a JSON
// message with text, blocks, response_type and replace_original. An injected
// failure answers HTTP 404 with the injected error, as Slack answers an
// expired or used URL.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, errReply("request_too_large"))
		return
	}
	params := make(map[string]string)
	call := Call{Method: MethodResponseURL, Params: params, Body: body, Ref: id}
	parseErr := flattenJSON(body, params)
	if b, ok := params["blocks"]; ok && json.Valid([]byte(b)) {
		call.Blocks = json.RawMessage(b)
	}

	s.mu.Lock()
	status, retryAfter, resp := http.StatusOK, 0, okReply(nil)
	inj, injected := s.takeInjectionLocked(MethodResponseURL)
	switch {
	case parseErr != nil:
		status, resp = http.StatusBadRequest, errReply("invalid_payload")
	case injected && inj.rateLimited:
		status, retryAfter, resp = http.StatusTooManyRequests, inj.retryAfter, errReply(inj.slackError)
	case injected:
		status, resp = http.StatusNotFound, errReply(inj.slackError)
	case params["text"] == "" && !hasBlocks(params) && params["delete_original"] != "true":
		status, resp = http.StatusBadRequest, errReply("no_text")
	}
	call.Status = status
	call.Error = errorOf(resp)
	s.recordLocked(call)
	s.mu.Unlock()

	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, resp)
}
