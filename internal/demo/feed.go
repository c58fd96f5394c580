package demo

import (
	"sync"
	"time"
)

// Kinds of Item.
const (
	kindMessage   = "message"   // a message everyone in the channel sees
	kindEphemeral = "ephemeral" // a reply only Viewer sees
	kindFile      = "file"      // an uploaded file
)

// Item is one thing the page shows in a channel: a message, an ephemeral
// reply or a file. An item sent again with the same ID replaces the one
// shown, in place (a message that chat.update changed).
type Item struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Channel  string `json:"channel"`
	TS       string `json:"ts,omitempty"`
	ThreadTS string `json:"thread_ts,omitempty"`
	// Author is who posted it: a person's ID, or the bot's.
	Author string `json:"author"`
	// Viewer is the only person who sees an ephemeral item.
	Viewer string `json:"viewer,omitempty"`
	// Command is the slash command an item answers, as it was typed.
	Command string `json:"command,omitempty"`
	// HTML is the item's body, rendered from its blocks or text.
	HTML string `json:"html"`
	// Edits counts the updates a message has had.
	Edits int `json:"edits"`
	// At is when the item first appeared.
	At   time.Time `json:"at"`
	File *FileInfo `json:"file,omitempty"`
}

// FileInfo describes an uploaded file; its content is at /demo/files/ID.
type FileInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Title string `json:"title"`
	Size  int    `json:"size"`
}

// subscriberBuffer is how many items a page may fall behind before it is
// disconnected; its browser reconnects and gets everything afresh.
const subscriberBuffer = 256

// feed is everything the page shows, in order, and the pages watching it.
type feed struct {
	mu    sync.Mutex
	items []Item
	index map[string]int
	subs  map[chan Item]struct{}
}

func newFeed() *feed {
	return &feed{index: map[string]int{}, subs: map[chan Item]struct{}{}}
}

// put adds an item, or replaces the one with its ID, and sends it to every
// page watching.
func (f *feed) put(it Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.index[it.ID]; ok {
		f.items[i] = it
	} else {
		f.index[it.ID] = len(f.items)
		f.items = append(f.items, it)
	}
	for ch := range f.subs {
		select {
		case ch <- it:
		default:
			close(ch)
			delete(f.subs, ch)
		}
	}
}

// get returns the item with id.
func (f *feed) get(id string) (Item, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.index[id]
	if !ok {
		return Item{}, false
	}
	return f.items[i], true
}

// watch returns every item so far, and a channel of the items put from now
// on. The channel is closed when the watcher falls too far behind, or when
// stop is called.
func (f *feed) watch() (items []Item, updates <-chan Item, stop func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan Item, subscriberBuffer)
	f.subs[ch] = struct{}{}
	stop = func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			close(ch)
			delete(f.subs, ch)
		}
	}
	return append([]Item(nil), f.items...), ch, stop
}
