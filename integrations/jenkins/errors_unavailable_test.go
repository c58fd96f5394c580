package jenkins

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hoistbot/hoist/internal/release"
)

func TestUnreachableIsUnavailableForTheCore(t *testing.T) {
	err := fmt.Errorf("%w at http://jenkins/ after 5 tries: %w", ErrUnreachable, errors.New("connection refused"))
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, release.ErrUnavailable) {
		t.Fatalf("%v: want both ErrUnreachable and release.ErrUnavailable", err)
	}
	if errors.Is(ErrUnauthorized, release.ErrUnavailable) {
		t.Fatal("a 401 is not a temporary failure")
	}
}
