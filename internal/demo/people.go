package demo

// The demo workspace's people: one admin, the only one rbac.admins lists,
// and one developer.
const (
	// AdminID is Ana, the platform admin who approves releases to
	// protected environments.
	AdminID = "U0DEMOANA"
	// DeveloperID is Dave, a developer: he deploys, and brings test
	// environments up and down.
	DeveloperID = "U0DEMODAVE"
)

// The demo workspace's channels.
const (
	// DeploysID is #deploys, where people type commands and Hoist posts
	// release cards.
	DeploysID = "C0DEMODEPLOYS"
	// ReleasesID is #releases, the demo app's channel, where Hoist
	// announces each release.
	ReleasesID = "C0DEMORELEASES"
)

// Person is someone the visitor can be on the page.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name"`  // the handle mentions show: "ana"
	Title string `json:"title"` // what the identity switch says of them
	Admin bool   `json:"admin"`
}

// Channel is a channel of the demo workspace.
type Channel struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Topic string `json:"topic"`
}

// people lists the demo's people in the order the page shows them.
func people() []Person {
	return []Person{
		{ID: DeveloperID, Name: "dave", Title: "Dave · developer"},
		{ID: AdminID, Name: "ana", Title: "Ana · platform admin", Admin: true},
	}
}

// channels lists the demo's channels in the order the page shows them.
func channels() []Channel {
	return []Channel{
		{ID: DeploysID, Name: "deploys", Topic: "Talk to Hoist here: try /hoist help"},
		{ID: ReleasesID, Name: "releases", Topic: "Hoist announces every release of demo here"},
	}
}

// personByID finds one of the demo's people.
func personByID(id string) (Person, bool) {
	for _, p := range people() {
		if p.ID == id {
			return p, true
		}
	}
	return Person{}, false
}

// channelByID finds one of the demo's channels.
func channelByID(id string) (Channel, bool) {
	for _, c := range channels() {
		if c.ID == id {
			return c, true
		}
	}
	return Channel{}, false
}
