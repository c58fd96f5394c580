package jenkinssim

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	contentTypeJSON = "application/json;charset=utf-8"
	contentTypeText = "text/plain;charset=UTF-8"
	contentTypeHTML = "text/html;charset=utf-8"

	// maxLinesPerCall is how many lines progressiveText sends per call while
	// the build runs (LargeText.MAX_LINES_READ).
	maxLinesPerCall = 10000
	// compressAbove is the size above which progressiveText compresses
	// (LargeText.createWriter).
	compressAbove = 4096
)

// ServeHTTP answers a request the way Jenkins would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Jenkins", Version)
	h.Set("X-Hudson", "1.395")
	h.Set("X-Jenkins-Session", s.session)

	s.mu.Lock()
	s.requests[r.URL.Path]++
	injected := 0
	for i, f := range s.failures {
		if strings.Contains(r.URL.Path, f.contains) {
			injected = f.status
			if f.left--; f.left <= 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
			break
		}
	}
	down := s.down
	s.mu.Unlock()

	switch {
	case injected != 0:
		s.injectedFailure(w, r, injected)
		return
	case down:
		writeError(w, r, http.StatusServiceUnavailable, "Jenkins is going to shut down")
		return
	}
	user, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	s.route(w, r, user)
}

// authenticate checks HTTP basic auth. Like Jenkins, it answers 403
// "Authentication required" to anonymous requests (anonymous users lack
// Overall/Read) and 401 with a Basic challenge to wrong credentials.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.user == "" {
		return "", true
	}
	user, token, ok := r.BasicAuth()
	if !ok {
		h := w.Header()
		h.Set("X-You-Are-Authenticated-As", "anonymous")
		h.Set("X-You-Are-In-Group-Disabled", "JENKINS-39402: use -Dhudson.security.AccessDeniedException2.REPORT_GROUP_HEADERS=true or use /whoAmI to diagnose")
		h.Set("X-Required-Permission", "hudson.model.Hudson.Read")
		h.Add("X-Permission-Implied-By", "hudson.security.Permission.GenericRead")
		h.Add("X-Permission-Implied-By", "hudson.model.Hudson.Administer")
		login := "/login?from=" + html.EscapeString(strings.ReplaceAll(r.URL.RequestURI(), "&", "%26"))
		writeBody(w, r, http.StatusForbidden, contentTypeHTML, []byte(
			"<html><head><meta http-equiv='refresh' content='1;url="+login+"'/></head>"+
				"<body style='background-color:white; color:white;'>\n\n\nAuthentication required\n</body></html>\n"), false)
		return "", false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.user)) == 1
	tokenOK := subtle.ConstantTimeCompare([]byte(token), []byte(s.token)) == 1
	if !userOK || !tokenOK {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		writeError(w, r, http.StatusUnauthorized, "Invalid password/token for user: "+user)
		return "", false
	}
	return user, true
}

func (s *Server) injectedFailure(w http.ResponseWriter, r *http.Request, status int) {
	msg := http.StatusText(status)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
	case http.StatusForbidden:
		user := s.user
		if user == "" {
			user = "anonymous"
		}
		w.Header().Set("X-You-Are-Authenticated-As", user)
		msg = user + " is missing the Overall/Read permission"
	case http.StatusServiceUnavailable:
		msg = "Jenkins is going to shut down"
	}
	writeError(w, r, status, msg)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, user string) {
	segs := splitPath(r.URL.Path)
	switch {
	case len(segs) == 0:
		writePage(w, r, "Dashboard [Jenkins]")
	case is(segs, "api", "json"):
		s.mu.Lock()
		s.advanceLocked(time.Now())
		body := s.rootJSON()
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, body)
	case is(segs, "crumbIssuer", "api", "json"):
		// CSRF protection is always on in modern Jenkins, so the issuer
		// answers; requests authenticated with an API token need no crumb,
		// so POSTs are accepted with or without one.
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID." + s.session, Value: "node0" + randomHex(12) + ".node0", Path: "/", HttpOnly: true, //nolint:gosec // Jenkins' own session cookie, on loopback
			SameSite: http.SameSiteLaxMode})
		writeJSON(w, r, http.StatusOK, obj{
			{"_class", ClassCrumbIssuer},
			{"crumb", randomHex(32)},
			{"crumbRequestField", "Jenkins-Crumb"},
		})
	case segs[0] == "queue":
		s.routeQueue(w, r, segs[1:])
	case segs[0] == "job":
		s.routeJob(w, r, segs, user)
	default:
		writeError(w, r, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) routeQueue(w http.ResponseWriter, r *http.Request, segs []string) {
	switch {
	case is(segs, "api", "json"):
		s.mu.Lock()
		now := time.Now()
		s.advanceLocked(now)
		body := s.queueJSON(now)
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, body)
	case len(segs) == 4 && segs[0] == "item" && is(segs[2:], "api", "json"):
		id, err := strconv.ParseInt(segs[1], 10, 64)
		if err != nil {
			writeError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		s.mu.Lock()
		now := time.Now()
		s.advanceLocked(now)
		it := s.queue[id]
		var body obj
		if it != nil && !it.forgotten(now, s.retention) {
			body = s.queueItemJSON(it, now, true)
		}
		s.mu.Unlock()
		if body == nil {
			writeError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		writeJSON(w, r, http.StatusOK, body)
	case is(segs, "cancelItem"):
		// Queue.doCancelItem: 204 when cancelled, 404 for an unknown item,
		// 500 for an item that already left the queue.
		if !requirePOST(w, r) {
			return
		}
		id, _ := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
		s.mu.Lock()
		now := time.Now()
		s.advanceLocked(now)
		found, cancelled := s.cancelLocked(id, now)
		s.mu.Unlock()
		switch {
		case cancelled:
			w.WriteHeader(http.StatusNoContent)
		case found:
			writeError(w, r, http.StatusInternalServerError, fmt.Sprintf("Could not cancel run for id %d", id))
		default:
			writeError(w, r, http.StatusNotFound, fmt.Sprintf("Provided id (%d) not found", id))
		}
	default:
		writeError(w, r, http.StatusNotFound, "Not Found")
	}
}

// routeJob serves everything under /job/…: folders, jobs and builds.
func (s *Server) routeJob(w http.ResponseWriter, r *http.Request, segs []string, user string) {
	s.mu.Lock()
	path, isJob, i := "", false, 0
	for i+1 < len(segs) && segs[i] == "job" && !isJob {
		p := segs[i+1]
		if path != "" {
			p = path + "/" + segs[i+1]
		}
		switch {
		case s.jobs[p] != nil:
			isJob = true
		case s.folders[p]:
		default:
			s.mu.Unlock()
			writeError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		path, i = p, i+2
	}
	rest := segs[i:]
	if path == "" {
		s.mu.Unlock()
		writeError(w, r, http.StatusNotFound, "Not Found")
		return
	}
	if !isJob {
		var body obj
		if is(rest, "api", "json") {
			body = s.folderJSON(path)
		}
		s.mu.Unlock()
		switch {
		case body != nil:
			writeJSON(w, r, http.StatusOK, body)
		case len(rest) == 0:
			writePage(w, r, fullDisplayName(path)+" [Jenkins]")
		default:
			writeError(w, r, http.StatusNotFound, "Not Found")
		}
		return
	}
	j := s.jobs[path]
	switch {
	case len(rest) == 0:
		s.mu.Unlock()
		writePage(w, r, fullDisplayName(path)+" [Jenkins]")
	case is(rest, "api", "json"):
		now := time.Now()
		s.advanceLocked(now)
		body := s.jobJSON(j, now, r.URL.Query().Has("tree"))
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, body)
	case is(rest, "buildWithParameters") || is(rest, "build"):
		s.mu.Unlock()
		s.trigger(w, r, path, rest[0] == "buildWithParameters", user)
	default:
		s.advanceLocked(time.Now())
		b := s.lookupBuildLocked(j, rest[0])
		s.mu.Unlock()
		if b == nil {
			writeError(w, r, http.StatusNotFound, "Not Found")
			return
		}
		s.routeBuild(w, r, b, rest[1:], user)
	}
}

func (s *Server) lookupBuildLocked(j *job, ref string) *build {
	if sel, ok := permalinks[ref]; ok {
		return j.last(sel)
	}
	n, err := strconv.Atoi(ref)
	if err != nil || n < 1 || n > len(j.builds) || strconv.Itoa(n) != ref {
		return nil
	}
	return j.builds[n-1]
}

// trigger serves buildWithParameters and build: a new queue item every
// time (identical requests are not merged), 201 Created with a Location
// built like Stapler's sendRedirect(201, contextPath + "/queue/item/N/"):
// from the request's Host, not the root URL.
func (s *Server) trigger(w http.ResponseWriter, r *http.Request, path string, withParameters bool, user string) {
	// BuildAuthorizationToken.checkPermission lets GET through for requests
	// authenticated with an API token; anyone else must POST.
	if r.Method != http.MethodPost && (user == "" || r.Method != http.MethodGet) {
		requirePOST(w, r)
		return
	}
	if err := parseForm(r); err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	j := s.jobs[path]
	defs := j.cfg.Params
	var params []paramValue
	switch {
	case withParameters && len(defs) == 0:
		s.mu.Unlock()
		writeError(w, r, http.StatusBadRequest, j.path+" is not parameterized")
		return
	case withParameters:
		params = values(defs, func(name string) (string, bool) {
			v, ok := r.Form[name]
			if !ok || len(v) == 0 {
				return "", false
			}
			return v[0], true
		})
	case len(defs) > 0:
		submitted, err := jsonFormParams(r.Form.Get("json"))
		if err != nil {
			s.mu.Unlock()
			msg := err.Error()
			if errors.Is(err, errNothingSubmitted) {
				msg = "Nothing is submitted" // what Jenkins says
			}
			writeError(w, r, http.StatusBadRequest, msg)
			return
		}
		params = values(defs, func(name string) (string, bool) {
			v, ok := submitted[name]
			return v, ok
		})
	}
	now := time.Now()
	s.advanceLocked(now)
	it := s.enqueueLocked(j, params, user, now)
	s.mu.Unlock()
	w.Header().Set("Location", requestBase(r)+"queue/item/"+strconv.FormatInt(it.id, 10)+"/")
	w.WriteHeader(http.StatusCreated)
}

// errNothingSubmitted is a /build of a parameterized job without the "json"
// form field.
var errNothingSubmitted = errors.New("nothing is submitted")

// jsonFormParams reads the "json" field of the form /build takes for a
// parameterized job: {"parameter": [{"name": …, "value": …}, …]}.
func jsonFormParams(form string) (map[string]string, error) {
	if form == "" {
		return nil, errNothingSubmitted
	}
	var f struct {
		Parameter json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal([]byte(form), &f); err != nil {
		return nil, fmt.Errorf("json form field: %w", err)
	}
	type nv struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	}
	var list []nv
	if len(f.Parameter) > 0 && f.Parameter[0] == '{' {
		var one nv
		if err := json.Unmarshal(f.Parameter, &one); err != nil {
			return nil, fmt.Errorf("json form field parameter: %w", err)
		}
		list = []nv{one}
	} else if len(f.Parameter) > 0 {
		if err := json.Unmarshal(f.Parameter, &list); err != nil {
			return nil, fmt.Errorf("json form field parameter: %w", err)
		}
	}
	out := map[string]string{}
	for _, p := range list {
		switch v := p.Value.(type) {
		case string:
			out[p.Name] = v
		case nil:
		default:
			out[p.Name] = fmt.Sprint(v)
		}
	}
	return out, nil
}

func (s *Server) routeBuild(w http.ResponseWriter, r *http.Request, b *build, rest []string, user string) {
	switch {
	case len(rest) == 0:
		writePage(w, r, fullDisplayName(b.job.path)+" #"+strconv.Itoa(b.number)+" [Jenkins]")
	case is(rest, "api", "json"):
		s.mu.Lock()
		s.advanceLocked(time.Now())
		body := s.buildJSON(b)
		s.mu.Unlock()
		writeJSON(w, r, http.StatusOK, body)
	case is(rest, "consoleText"):
		s.mu.Lock()
		s.advanceLocked(time.Now())
		text := b.log // appends never touch bytes below len, so this is safe to read unlocked
		s.mu.Unlock()
		if r.Method != http.MethodHead {
			s.logBytes.Add(int64(len(text)))
		}
		writeBody(w, r, http.StatusOK, contentTypeText, text, false)
	case is(rest, "logText", "progressiveText"):
		s.progressiveText(w, r, b)
	case is(rest, "stop"):
		if !requirePOST(w, r) {
			return
		}
		s.mu.Lock()
		now := time.Now()
		s.advanceLocked(now)
		b.abort(now, user)
		s.mu.Unlock()
		// Executor.doStop answers HttpResponses.forwardToPreviousPage(): a
		// redirect to the Referer, or to the build's page.
		to := r.Referer()
		if to == "" {
			p := strings.TrimSuffix(r.URL.Path, "/")
			to = requestBase(r) + strings.TrimPrefix(p[:strings.LastIndex(p, "/")+1], "/")
		}
		w.Header().Set("Location", to)
		w.WriteHeader(http.StatusFound)
	default:
		writeError(w, r, http.StatusNotFound, "Not Found")
	}
}

// progressiveText serves the console from byte offset start, with Stapler
// LargeText.doProgressText's headers.
func (s *Server) progressiveText(w http.ResponseWriter, r *http.Request, b *build) {
	var start int64
	if v := r.URL.Query().Get("start"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			writeError(w, r, http.StatusInternalServerError, "java.lang.NumberFormatException: For input string: \""+v+"\"")
			return
		}
		start = max(n, 0)
	}
	s.mu.Lock()
	s.advanceLocked(time.Now())
	text, done := b.log, b.done
	s.mu.Unlock()
	if start > int64(len(text)) {
		start = 0 // "text rolled over"
	}
	chunk := text[start:]
	if !done {
		// While the log grows, at most maxLinesPerCall whole lines.
		end, lines := 0, 0
		for lines < maxLinesPerCall {
			i := bytes.IndexByte(chunk[end:], '\n')
			if i < 0 {
				break
			}
			end += i + 1
			lines++
		}
		chunk = chunk[:end]
	}
	h := w.Header()
	h.Set("X-Text-Size", strconv.FormatInt(start+int64(len(chunk)), 10))
	if !done {
		h.Set("X-More-Data", "true")
	}
	if r.Method != http.MethodHead {
		s.logBytes.Add(int64(len(chunk)))
	}
	writeBody(w, r, http.StatusOK, contentTypeText, chunk, int64(len(text))-start > compressAbove)
}

// requirePOST answers 405 like Stapler's @RequirePOST for other methods.
func requirePOST(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	writeError(w, r, http.StatusMethodNotAllowed, "This URL requires POST")
	return false
}

func parseForm(r *http.Request) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(10 << 20); err != nil { //nolint:gosec // the body is bounded above
			return fmt.Errorf("parse multipart form: %w", err)
		}
		return nil
	}
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("parse form: %w", err)
	}
	return nil
}

// requestBase is the base URL as the request reached the Server, the way
// the servlet container rebuilds it from the Host header.
func requestBase(r *http.Request) string { return "http://" + r.Host + "/" }

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func is(segs []string, want ...string) bool {
	if len(segs) != len(want) {
		return false
	}
	for i := range segs {
		if segs[i] != want[i] { //nolint:gosec // len(segs) == len(want) above
			return false
		}
	}
	return true
}

func acceptsGzip(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
}

// writeJSON writes a payload as Stapler's serveExposedBean does: pruned to
// the request's tree parameter, if any, and compressed when the client
// accepts gzip.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if t := r.URL.Query().Get("tree"); t != "" {
		fields, err := parseTree(t)
		if err != nil {
			writeError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		v = pruneTree(v, fields)
	}
	body, err := marshal(v)
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	writeBody(w, r, status, contentTypeJSON, body, true)
}

func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte, compress bool) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if compress && acceptsGzip(r) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body) // writes to a bytes.Buffer do not fail
		_ = zw.Close()
		body = buf.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // the client going away is not the Server's problem
	}
}

func writePage(w http.ResponseWriter, r *http.Request, title string) {
	writeBody(w, r, http.StatusOK, contentTypeHTML, []byte("<!DOCTYPE html><html><head><title>"+
		html.EscapeString(title)+"</title></head><body><div id=\"page-body\"></div></body></html>\n"), false)
}

// writeError writes an error page shaped like Jetty's.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	text := http.StatusText(status)
	writeBody(w, r, status, contentTypeHTML, []byte(fmt.Sprintf(
		"<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"+
			"<title>Error %d %s</title>\n</head>\n<body>\n<h2>HTTP ERROR %d %s</h2>\n<table>\n"+
			"<tr><th>URI:</th><td>%s</td></tr>\n<tr><th>STATUS:</th><td>%d</td></tr>\n"+
			"<tr><th>MESSAGE:</th><td>%s</td></tr>\n<tr><th>SERVLET:</th><td>Stapler</td></tr>\n"+
			"</table>\n</body>\n</html>\n",
		status, html.EscapeString(text), status, html.EscapeString(msg),
		html.EscapeString(r.URL.Path), status, html.EscapeString(msg))), false)
}
