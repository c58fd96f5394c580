package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/hoistbot/hoist/configs"
)

// EnvPrefix starts every environment variable Hoist reads its configuration
// from: slack.bot_token is HOIST_SLACK_BOT_TOKEN.
const EnvPrefix = "HOIST_"

// defaults are the values of keys the configuration may leave out.
var defaults = map[string]any{
	"server.listen":                  "127.0.0.1:8080",
	"slack.mode":                     "http",
	"slack.api_url":                  "https://slack.com/api/",
	"slack.update_budget_per_minute": 50,
	"rbac.allow_self_approval":       false,
	"rbac.required_approvals":        1,
	"approvals.timeout":              "30m",
	"store.driver":                   "sqlite",
	"store.dsn":                      "hoist.db",
	"store.lease_ttl":                "15s",
	"github.base_url":                "https://api.github.com/",
	"github.merge_method":            "merge",
}

// Load reads the configuration from the YAML file at path or, when path is
// "", from the example configuration embedded in the binary
// (configs.Example). Defaults fill keys the file leaves out, and the
// HOIST_* variables in environ (os.Environ() in main; Load never reads the
// process environment itself) override the file: see EnvVar.
//
// Load fails only when the file cannot be read or is not YAML. Unknown keys
// and values of the wrong type (a duration "3d", a list where a string
// belongs) do not fail Load: Validate reports them with every other problem,
// so a caller should always run Validate before using the result.
func Load(path string, environ []string) (*Config, error) {
	if path == "" {
		return Parse("embedded example configuration", configs.Example(), environ)
	}
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the configuration file
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, environ)
}

// Parse is Load for YAML already in memory; name says where data came from
// and appears in errors.
func Parse(name string, data []byte, environ []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	for key, value := range defaults {
		v.SetDefault(key, value)
	}
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) {
			err = pe.Unwrap() // drop viper's "While parsing config:" prefix
		}
		return nil, fmt.Errorf("parse config %s: %w", name, err)
	}
	applyEnv(v, environ)

	n := normalizer{v: v}
	settings := n.structure("", configType)
	n.unknownKeys()

	var cfg Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToSecretHook,
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		Result:           &cfg,
	})
	if err != nil {
		return nil, fmt.Errorf("decode config %s: %w", name, err)
	}
	if err := dec.Decode(settings); err != nil {
		// The normalizer hands over only known keys holding values of the
		// right type, so this means a bug here rather than in the file.
		return nil, fmt.Errorf("decode config %s: %w", name, err)
	}
	cfg.problems = n.problems
	return &cfg, nil
}

// stringToSecretHook turns strings into Secrets.
func stringToSecretHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() == reflect.String && to == secretType {
		return Secret(reflect.ValueOf(data).String()), nil
	}
	return data, nil
}

var (
	configType   = reflect.TypeFor[Config]()
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// EnvVar returns the environment variable that overrides key:
// EnvVar("slack.bot_token") is "HOIST_SLACK_BOT_TOKEN". Only keys outside
// clusters, environments and apps are read from the environment.
func EnvVar(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// EnvKeys lists, sorted, the keys that environment variables can set.
func EnvKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for _, f := range fields(t) {
			switch {
			case f.typ.Kind() == reflect.Map:
			case f.typ.Kind() == reflect.Struct:
				walk(prefix+f.tag+".", f.typ)
			default:
				keys = append(keys, prefix+f.tag)
			}
		}
	}
	walk("", configType)
	sort.Strings(keys)
	return keys
}

// applyEnv sets every key that has a non-empty HOIST_* variable in environ.
// Only known keys are looked up, so other HOIST_* variables, such as the
// service links Kubernetes injects for a Service named hoist
// (HOIST_PORT=tcp://10.0.0.1:80), are ignored; the service links are also
// dropped explicitly, in case a future key's variable collides with one.
func applyEnv(v *viper.Viper, environ []string) {
	env := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || isKubeServiceLink(name, value) {
			continue
		}
		env[name] = value // later entries win, as in os/exec
	}
	listKeys := map[string]bool{}
	for _, key := range []string{"slack.allowed_channels", "rbac.admins", "rbac.admin_groups", "github.required_contexts"} {
		listKeys[key] = true
	}
	for _, key := range EnvKeys() {
		value := env[EnvVar(key)]
		if value == "" {
			continue
		}
		switch {
		case key == "jenkins.redact_patterns":
			v.Set(key, []string{value}) // a pattern may hold commas and spaces
		case listKeys[key]:
			v.Set(key, splitList(value))
		default:
			v.Set(key, value)
		}
	}
}

var (
	// kubeLinkName matches names Kubernetes gives service link variables
	// whatever their value: FOO_SERVICE_HOST, FOO_SERVICE_PORT(_NAME),
	// FOO_PORT_8080_TCP_PROTO|PORT|ADDR.
	kubeLinkName = regexp.MustCompile(`_SERVICE_HOST$|_SERVICE_PORT(_[A-Z0-9_]+)?$|_PORT_\d+_(TCP|UDP|SCTP)_(PROTO|PORT|ADDR)$`)
	// kubeLinkURL matches FOO_PORT and FOO_PORT_8080_TCP, whose values are
	// URLs such as tcp://10.0.0.1:8080.
	kubeLinkURL = regexp.MustCompile(`_PORT(_\d+_(TCP|UDP|SCTP))?$`)
)

// isKubeServiceLink reports whether an environment variable looks like one
// Kubernetes injects for a Service (cf. atlantis sanitizeKubernetesServiceLinks).
func isKubeServiceLink(name, value string) bool {
	if kubeLinkName.MatchString(name) {
		return true
	}
	if kubeLinkURL.MatchString(name) {
		for _, scheme := range []string{"tcp://", "udp://", "sctp://"} {
			if strings.HasPrefix(value, scheme) {
				return true
			}
		}
	}
	return false
}

// splitList splits a list given as one string, on commas and white space.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

// field is one mapstructure-tagged field of a config struct.
type field struct {
	tag string
	typ reflect.Type
}

func fields(t reflect.Type) []field {
	var fs []field
	for f := range t.Fields() {
		if tag := f.Tag.Get("mapstructure"); tag != "" && f.IsExported() {
			fs = append(fs, field{tag: tag, typ: f.Type})
		}
	}
	return fs
}

func fieldByTag(t reflect.Type, tag string) (field, bool) {
	for _, f := range fields(t) {
		if f.tag == tag {
			return f, true
		}
	}
	return field{}, false
}

func tags(t reflect.Type) []string {
	var ts []string
	for _, f := range fields(t) {
		ts = append(ts, f.tag)
	}
	return ts
}

// normalizer builds, from the merged viper settings, a map holding only
// known keys with values of the right type, and records a Problem for
// everything else. Working from the struct's fields rather than from
// viper.AllSettings keeps map entries that have no keys of their own
// (clusters: {main: {}}), which AllSettings drops.
type normalizer struct {
	v        *viper.Viper
	problems []Problem
}

func (n *normalizer) add(key, format string, args ...any) {
	n.problems = append(n.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// structure reads the struct type t at prefix through viper, so that
// overrides, the file and defaults apply in that order.
func (n *normalizer) structure(prefix string, t reflect.Type) map[string]any {
	out := map[string]any{}
	for _, f := range fields(t) {
		key := prefix + f.tag
		switch f.typ.Kind() {
		case reflect.Struct:
			if raw := n.v.Get(key); raw != nil && !isMap(raw) {
				n.add(key, "must be a mapping of keys to values")
			}
			out[f.tag] = n.structure(key+".", f.typ)
		case reflect.Map:
			if m := n.entries(key, f.typ.Elem(), n.v.Get(key)); m != nil {
				out[f.tag] = m
			}
		default:
			if value, ok := n.leaf(key, f.typ, n.v.Get(key)); ok {
				out[f.tag] = value
			}
		}
	}
	return out
}

// entries reads a map of names to structs of type elem from raw YAML.
func (n *normalizer) entries(key string, elem reflect.Type, raw any) map[string]any {
	if raw == nil {
		return nil
	}
	m, ok := toMap(raw)
	if !ok {
		n.add(key, "must be a mapping of names to settings")
		return nil
	}
	out := map[string]any{}
	for name, rawEntry := range m {
		entryKey := key + "." + name
		entry := map[string]any{}
		out[name] = entry
		if rawEntry == nil {
			continue
		}
		em, ok := toMap(rawEntry)
		if !ok {
			n.add(entryKey, "must be a mapping of keys to values")
			continue
		}
		for k, value := range em {
			f, ok := fieldByTag(elem, k)
			if !ok {
				n.add(entryKey+"."+k, "%s", unknownKeyMessage(k, tags(elem)))
				continue
			}
			if value, ok := n.leaf(entryKey+"."+k, f.typ, value); ok {
				entry[k] = value
			}
		}
	}
	return out
}

// unknownKeys reports keys of the file that name no field. Keys inside
// clusters, environments and apps were checked by entries.
func (n *normalizer) unknownKeys() {
	seen := map[string]bool{}
	for _, key := range n.v.AllKeys() {
		parts := strings.Split(key, ".")
		t := configType
		for i, part := range parts {
			f, ok := fieldByTag(t, part)
			if !ok {
				k := strings.Join(parts[:i+1], ".")
				if !seen[k] {
					seen[k] = true
					n.add(k, "%s", unknownKeyMessage(part, tags(t)))
				}
				break
			}
			if f.typ.Kind() != reflect.Struct {
				break // a map (checked by entries) or a leaf (checked by leaf)
			}
			t = f.typ
		}
	}
}

// unknownKeyMessage says a key is unknown and suggests the closest known one.
func unknownKeyMessage(key string, known []string) string {
	best, bestDist := "", math.MaxInt
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" && bestDist <= max(2, len(key)/3) {
		return fmt.Sprintf("unknown key; did you mean %q?", best)
	}
	sort.Strings(known)
	return "unknown key; known keys: " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// leaf checks a single value against the field type t. It returns the value
// to decode, or false after recording a problem (or when raw is nil). It
// never puts the value of a Secret in a message.
func (n *normalizer) leaf(key string, t reflect.Type, raw any) (any, bool) {
	if raw == nil {
		return nil, false
	}
	switch {
	case t == durationType:
		return n.duration(key, raw)
	case t.Kind() == reflect.Bool:
		switch v := raw.(type) {
		case bool:
			return v, true
		case string:
			if b, err := strconv.ParseBool(v); err == nil {
				return b, true
			}
		}
		n.add(key, "must be true or false")
		return nil, false
	case t.Kind() == reflect.Int:
		switch v := raw.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32:
			return v, true
		case float64:
			if v == math.Trunc(v) && math.Abs(v) < 1<<31 {
				return int(v), true
			}
		case string:
			if i, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return i, true
			}
		}
		n.add(key, "must be a whole number")
		return nil, false
	case t.Kind() == reflect.String:
		switch v := raw.(type) {
		case string:
			return v, true
		case int, int64, uint64:
			if t != secretType {
				return fmt.Sprint(v), true
			}
		}
		n.add(key, "must be a string (quote the value)")
		return nil, false
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		switch v := raw.(type) {
		case string:
			return splitList(v), true
		case []string:
			return v, true
		case []any:
			out := make([]string, 0, len(v))
			for _, item := range v {
				switch item := item.(type) {
				case string:
					out = append(out, item)
				case int, int64, uint64:
					out = append(out, fmt.Sprint(item))
				default:
					n.add(key, "must be a list of strings")
					return nil, false
				}
			}
			return out, true
		}
		n.add(key, "must be a list of strings")
		return nil, false
	}
	panic(fmt.Sprintf("config: no reader for %s (%s)", key, t)) // a new field type needs a case
}

// days matches a duration written in days, which Go durations do not have.
var days = regexp.MustCompile(`^(\d+)d$`)

// duration accepts Go duration strings ("90s", "30m", "72h"), "" and 0 (no
// duration). Days ("3d") are rejected with the equivalent in hours: a day
// is not always 24 hours, and Go durations have no such unit.
func (n *normalizer) duration(key string, raw any) (any, bool) {
	switch v := raw.(type) {
	case time.Duration:
		return v, true
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return time.Duration(0), true
		}
		if _, err := time.ParseDuration(s); err == nil {
			return s, true
		}
		if m := days.FindStringSubmatch(s); m != nil {
			d, _ := strconv.Atoi(m[1])
			n.add(key, "invalid duration %q: days are not a unit; write hours, e.g. \"%dh\"", v, d*24)
			return nil, false
		}
		n.add(key, "invalid duration %q: use a number and a unit (s, m, h), e.g. \"30m\" or \"72h\"", v)
		return nil, false
	case int, int64, uint64, float64:
		if reflect.ValueOf(v).IsZero() {
			return time.Duration(0), true
		}
		n.add(key, "invalid duration %v: a duration needs a unit (s, m, h), e.g. \"30m\" or \"72h\"", v)
		return nil, false
	}
	n.add(key, "must be a duration such as \"30m\" or \"72h\"")
	return nil, false
}

func isMap(v any) bool {
	_, ok := toMap(v)
	return ok
}

func toMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			out[fmt.Sprint(k)] = val
		}
		return out, true
	}
	return nil, false
}
