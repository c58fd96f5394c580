package store_test

import (
	"testing"

	"github.com/hoistbot/hoist/internal/store"
	"github.com/hoistbot/hoist/internal/store/storetest"
)

var benchStores = []struct {
	name string
	open func(b *testing.B) store.Store
}{
	{"sqlite", func(b *testing.B) store.Store { return openSQLite(b, tempDB(b)) }},
	{"sqlite-memory", func(b *testing.B) store.Store { return openSQLite(b, ":memory:") }},
	{"postgres", func(b *testing.B) store.Store { return openPostgres(b, postgresDSN(b)) }},
}

func BenchmarkCreateRelease(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) { storetest.BenchCreateRelease(b, bs.open) })
	}
}

func BenchmarkTransition(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) { storetest.BenchTransition(b, bs.open) })
	}
}
